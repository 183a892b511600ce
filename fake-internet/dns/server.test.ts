import { expect } from 'chai';
import * as dnsPacket from 'dns-packet';
import net from 'node:net';
import { silentLogger } from '../../core/log.ts';
import { createDnsServer, type DnsQueryLogEntry, type DnsServer } from './server.ts';
import { parseZone, type ZoneData } from './zone.ts';
import { dig, frame, hexFixture, tcpExchange, udpExchange, zoneFixture } from './fixtures/clients.ts';

describe('dns server', () => {
  let server: DnsServer;
  let port: number;
  let zone: ZoneData;
  const queries: DnsQueryLogEntry[] = [];

  before(async () => {
    zone = parseZone(zoneFixture());
    server = createDnsServer({ zone, host: '127.0.0.1', port: 0, log: silentLogger(), onQuery: (entry) => queries.push(entry), tcpIdleTimeoutMs: 300, maxTcpConnections: 4 });
    ({ port } = await server.start());
  });
  after(() => server.close());
  afterEach(() => server.setZone(zone));

  describe('byte fixtures', () => {
    it('answers a literal query packet, field by field', async () => {
      const reply = await udpExchange(port, hexFixture('query-docs-python-org-a.hex'));
      const decoded = dnsPacket.decode(reply!);
      expect(decoded.id).to.equal(0x1234);
      expect([decoded.flag_qr, decoded.flag_aa, decoded.flag_tc, decoded.flag_rd, decoded.flag_ra]).to.deep.equal([true, true, false, true, false]);
      expect((decoded as unknown as { rcode: string; opcode: string }).rcode).to.equal('NOERROR');
      expect((decoded as unknown as { rcode: string; opcode: string }).opcode).to.equal('QUERY');
      expect(decoded.questions).to.deep.equal([{ name: 'docs.python.org', type: 'A', class: 'IN' }]);
      expect(decoded.answers).to.have.length(1);
      expect(decoded.answers![0]).to.deep.include({ name: 'docs.python.org', type: 'A', class: 'IN', ttl: 300, data: '10.77.0.40' });
      expect(decoded.authorities).to.deep.equal([]);
      expect(decoded.additionals).to.deep.equal([]);
    });

    it('sends exactly the stored response bytes, echoing the question case', async () => {
      expect((await udpExchange(port, hexFixture('query-docs-python-org-a.hex')))!.toString('hex')).to.equal(hexFixture('response-docs-python-org-a.hex').toString('hex'));
      expect((await udpExchange(port, hexFixture('query-nope-python-org-mixed-case.hex')))!.toString('hex')).to.equal(hexFixture('response-nope-python-org-mixed-case.hex').toString('hex'));
      const [overTcp] = await tcpExchange(port, frame(hexFixture('query-docs-python-org-a.hex')));
      expect(overTcp!.toString('hex')).to.equal(hexFixture('response-docs-python-org-a.hex').toString('hex'));
    });
  });

  for (const transport of ['udp', 'tcp'] as const) {
    describe(`with dig over ${transport}`, () => {
      const ask = (name: string, type: string) => dig(port, name, type, ...(transport === 'tcp' ? ['+tcp'] : []));

      it('answers A for a mirrored host, authoritatively', async () => {
        const result = await ask('docs.python.org', 'A');
        expect(result.status).to.equal('NOERROR');
        expect(result.flags).to.include('aa');
        expect(result.answer).to.deep.equal([['docs.python.org.', '300', 'IN', 'A', '10.77.0.40']]);
      });

      it('follows a CNAME chain', async () => {
        const result = await ask('www.git-scm.com', 'A');
        expect(result.answer.map((r) => `${r[0]} ${r[3]} ${r[4]}`)).to.deep.equal(['www.git-scm.com. CNAME alias.git-scm.com.', 'alias.git-scm.com. CNAME git-scm.com.', 'git-scm.com. A 10.77.0.42']);
      });

      it('answers AAAA with NOERROR and no data', async () => {
        const result = await ask('docs.python.org', 'AAAA');
        expect(result.status).to.equal('NOERROR');
        expect(result.answer).to.deep.equal([]);
        expect(result.authority[0]?.slice(0, 4)).to.deep.equal(['python.org.', '300', 'IN', 'SOA']);
      });

      it('answers SOA and NS at an apex', async () => {
        const soa = await ask('nodejs.org', 'SOA');
        expect(soa.answer).to.deep.equal([['nodejs.org.', '300', 'IN', 'SOA', 'ns.outpost.', 'hostmaster.ns.outpost.', '2024060101', '3600', '600', '86400', '300']]);
        const ns = await ask('nodejs.org', 'NS');
        expect(ns.answer).to.deep.equal([['nodejs.org.', '300', 'IN', 'NS', 'ns.outpost.']]);
      });

      it('answers NXDOMAIN with the SOA, inside a zone and outside every zone', async () => {
        const inZone = await ask('nope.python.org', 'A');
        expect(inZone.status).to.equal('NXDOMAIN');
        expect(inZone.authority[0]?.slice(0, 5)).to.deep.equal(['python.org.', '300', 'IN', 'SOA', 'ns.outpost.']);
        const outside = await ask('example.invalid', 'A');
        expect(outside.status).to.equal('NXDOMAIN');
        expect(outside.authority[0]?.slice(0, 4)).to.deep.equal(['.', '300', 'IN', 'SOA']);
      });

      it('ignores the case of names', async () => {
        const result = await ask('DoCs.PYTHON.org', 'A');
        expect(result.answer.map((r) => r[4])).to.deep.equal(['10.77.0.40']);
        expect(result.answer[0]![0]!.toLowerCase()).to.equal('docs.python.org.');
      });
    });
  }

  it('logs each query with the client address, protocol and answers', async () => {
    queries.length = 0;
    await dig(port, 'git.outpost', 'A');
    await dig(port, 'nope.outpost', 'TXT', '+tcp');
    expect(queries).to.have.length(2);
    expect(queries[0]).to.deep.include({ client: '127.0.0.1', protocol: 'udp', name: 'git.outpost', type: 'A', rcode: 'NOERROR', answers: ['git.outpost A 10.77.0.20'] });
    expect(queries[1]).to.deep.include({ client: '127.0.0.1', protocol: 'tcp', name: 'nope.outpost', type: 'TXT', rcode: 'NXDOMAIN', answers: [] });
    expect(Date.parse(queries[0]!.time)).to.be.closeTo(Date.now(), 60_000);
  });

  it('changes answers live with setZone', async () => {
    expect((await dig(port, 'docs.python.org', 'A')).answer[0]![4]).to.equal('10.77.0.40');
    server.setZone({ ...zone, records: { ...zone.records, 'docs.python.org': { a: ['10.77.9.9'] }, 'new.outpost': { a: ['10.77.9.10'] } } });
    expect((await dig(port, 'docs.python.org', 'A')).answer[0]![4]).to.equal('10.77.9.9');
    expect((await dig(port, 'new.outpost', 'A', '+tcp')).answer[0]![4]).to.equal('10.77.9.10');
  });

  it('sets TC on UDP answers over 512 bytes without EDNS, and answers them in full over TCP or with EDNS', async () => {
    const truncated = await dig(port, 'big.outpost', 'A', '+noedns', '+ignore');
    expect(truncated.flags).to.include('tc');
    expect(truncated.answer).to.deep.equal([]);
    expect((await dig(port, 'big.outpost', 'A', '+noedns', '+tcp')).answer).to.have.length(40);
    const withEdns = await dig(port, 'big.outpost', 'A', '+bufsize=1232', '+ignore');
    expect(withEdns.flags).not.to.include('tc');
    expect(withEdns.answer).to.have.length(40);
  });

  it('answers FORMERR, NOTIMP, REFUSED and BADVERS, and never answers a response', async () => {
    const query = hexFixture('query-docs-python-org-a.hex');
    const rcodeOf = (reply: Buffer | undefined) => reply!.readUInt16BE(2) & 0xf;
    const twoQuestions = Buffer.concat([query, query.subarray(12)]);
    twoQuestions.writeUInt16BE(2, 4);
    expect(rcodeOf(await udpExchange(port, twoQuestions))).to.equal(1);
    expect(rcodeOf(await udpExchange(port, query.subarray(0, 20)))).to.equal(1);
    const status = Buffer.from(query);
    status.writeUInt16BE(0x1000, 2); // opcode 2, STATUS
    const notimp = await udpExchange(port, status);
    expect([rcodeOf(notimp), (notimp!.readUInt16BE(2) >> 11) & 0xf]).to.deep.equal([4, 2]);
    const chaos = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
    expect(rcodeOf(await udpExchange(port, chaos))).to.equal(5);
    const ednsV1 = dnsPacket.encode({ type: 'query', id: 8, questions: [{ name: 'git.outpost', type: 'A' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, flag_do: false, options: [] }] });
    const badvers = dnsPacket.decode((await udpExchange(port, ednsV1))!);
    expect(badvers.additionals?.[0]).to.deep.include({ type: 'OPT', extendedRcode: 1 });
    const response = Buffer.from(query);
    response.writeUInt16BE(0x8100, 2);
    expect(await udpExchange(port, response, 300)).to.equal(undefined);
    expect(await udpExchange(port, query.subarray(0, 11), 300)).to.equal(undefined);
    expect(await udpExchange(port, query)).not.to.equal(undefined);
  });

  it('serves several queries per TCP connection, split and pipelined', async () => {
    const queriesFor = ['git.outpost', 'docs.python.org', 'nope.outpost'].map((name, i) => frame(dnsPacket.encode({ type: 'query', id: 100 + i, questions: [{ name, type: 'A' }] })));
    const replies = await tcpExchange(port, Buffer.concat(queriesFor));
    expect(replies.map((r) => dnsPacket.decode(r).id)).to.deep.equal([100, 101, 102]);
    expect(replies.map((r) => (dnsPacket.decode(r) as unknown as { rcode: string }).rcode)).to.deep.equal(['NOERROR', 'NOERROR', 'NXDOMAIN']);

    // One query written a byte at a time still gets its answer.
    const single = queriesFor[1]!;
    const answers = await new Promise<Buffer>((done, fail) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, async () => {
        for (const byte of single) {
          socket.write(Buffer.from([byte]));
          await new Promise((r) => setImmediate(r));
        }
      });
      socket.once('data', (chunk) => {
        socket.destroy();
        done(chunk);
      });
      socket.on('error', fail);
    });
    expect(dnsPacket.decode(answers.subarray(2)).answers?.[0]).to.deep.include({ data: '10.77.0.40' });
  });

  it('closes a connection ending in a truncated frame, an idle one, and those over the cap', async () => {
    const whole = frame(hexFixture('query-docs-python-org-a.hex'));
    const replies = await tcpExchange(port, Buffer.concat([whole, whole.subarray(0, 9)]));
    expect(replies).to.have.length(1);

    const closes = (socket: net.Socket) => new Promise<void>((done) => socket.once('close', () => done()));
    const idle = net.connect({ port, host: '127.0.0.1' });
    idle.on('error', () => undefined);
    await closes(idle);

    const held = Array.from({ length: 4 }, () => net.connect({ port, host: '127.0.0.1' }));
    await Promise.all(held.map((socket) => new Promise((done) => socket.once('connect', done))));
    const extra = net.connect({ port, host: '127.0.0.1' });
    extra.on('error', () => undefined);
    let extraReplied = false;
    extra.on('data', () => (extraReplied = true));
    extra.write(whole);
    await closes(extra);
    expect(extraReplied).to.equal(false);
    expect(held.every((socket) => !socket.destroyed)).to.equal(true);
    held.forEach((socket) => socket.destroy());
  });

  it('stops reading a TCP client that never reads its answers, and answers every query once it does', async () => {
    // Without the brake the server buffered every answer: 900 MiB in 8 s, past the service's limit.
    const patient = createDnsServer({ zone, host: '127.0.0.1', port: 0, log: silentLogger(), tcpIdleTimeoutMs: 10_000 });
    const { port: patientPort } = await patient.start();
    try {
      const query = frame(dnsPacket.encode({ type: 'query', id: 7, flags: 0, questions: [{ type: 'A', name: 'git.outpost' }] }));
      const batch = Buffer.concat(Array.from({ length: 2000 }, () => query));
      const client = net.connect({ port: patientPort, host: '127.0.0.1' });
      client.pause();
      await new Promise((done) => client.once('connect', done));
      let sent = 0;
      const deadline = Date.now() + 5000;
      // Keep sending until our own writes back up: the server has stopped taking queries.
      while (client.writableLength < 1024 * 1024 && Date.now() < deadline) {
        client.write(batch);
        sent += 2000;
        await new Promise((done) => setTimeout(done, 2));
      }
      expect(client.writableLength, 'the server kept reading queries whose answers nobody read').to.be.at.least(1024 * 1024);
      let answers = 0;
      let buffered = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
          answers++;
        }
      });
      client.resume();
      const until = Date.now() + 20_000;
      while (answers < sent && Date.now() < until) await new Promise((done) => setTimeout(done, 20));
      expect(answers).to.equal(sent);
      client.destroy();
    } finally {
      await patient.close();
    }
  });

  it('uses the same port for UDP and TCP, and refuses a port in use', async () => {
    const other = createDnsServer({ zone, host: '127.0.0.1', port, log: silentLogger() });
    try {
      await other.start();
      expect.fail('a second server started on a port in use');
    } catch (error) {
      expect((error as { code?: string }).code).to.equal('NETWORK_SETUP_FAILED');
    }
    expect((await dig(port, 'git.outpost', 'A')).status).to.equal('NOERROR');
  });
});
