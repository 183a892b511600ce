import { expect } from 'chai';
import * as dnsPacket from 'dns-packet';
import dgram from 'node:dgram';
import { dig, frame, tcpExchange, zoneFixture } from './fixtures/clients.ts';
import { startService, type RunningService } from './fixtures/service.ts';

/** Fixed, so a failure reproduces: the messages name the seed and the packet index. */
const SEED = 0x0d15ea5e;
const UDP_PACKETS = 20_000;
const UDP_BATCH = 250;
const TCP_CONNECTIONS = 300;
const TCP_PARALLEL = 10;

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function packetMaker(random: () => number): () => Buffer {
  const int = (below: number) => Math.floor(random() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const names = ['docs.python.org', 'www.git-scm.com', 'x.y.github.com', 'big.outpost', 'nope.outpost', 'example.invalid', 'NoDeJs.OrG', 'labs.outpost', ''];
  const types: dnsPacket.RecordType[] = ['A', 'AAAA', 'CNAME', 'SOA', 'NS', 'TXT', 'MX', 'AXFR', 'PTR'];
  const randomBytes = (length: number) => Buffer.from(Array.from({ length }, () => int(256)));
  const valid = (): Buffer =>
    dnsPacket.encode({
      type: 'query',
      id: int(65536),
      flags: random() < 0.5 ? dnsPacket.RECURSION_DESIRED : 0,
      questions: [{ name: pick(names), type: pick(types) }],
      additionals: random() < 0.5 ? [{ type: 'OPT', name: '.', udpPayloadSize: int(5000), extendedRcode: 0, ednsVersion: random() < 0.9 ? 0 : int(256), flags: 0, flag_do: false, options: [] }] : [],
    });
  return () => {
    switch (int(6)) {
      case 0:
        return randomBytes(int(300));
      case 1: {
        const packet = valid();
        return packet.subarray(0, int(packet.length));
      }
      case 2: {
        const packet = Buffer.from(valid());
        for (let flips = 1 + int(8); flips > 0; flips--) packet[int(packet.length)]! ^= 1 << int(8);
        return packet;
      }
      case 3:
        return Buffer.concat([valid().subarray(0, 12), randomBytes(int(200))]);
      case 4: {
        const packet = Buffer.from(valid());
        for (const offset of [4, 6, 8, 10]) if (random() < 0.5) packet.writeUInt16BE(int(65536), offset);
        return packet;
      }
      default: {
        // A question whose name is a compression pointer, possibly to itself or into the header.
        const packet = Buffer.from(valid());
        packet.writeUInt16BE(0xc000 | int(40), 12);
        return packet;
      }
    }
  };
}

function expectWellFormed(reply: Buffer, context: string): void {
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(reply);
  } catch (error) {
    expect.fail(`${context}: the server sent an undecodable reply ${reply.toString('hex')}: ${String(error)}`);
  }
  expect(decoded.flag_qr, `${context}: reply without QR`).to.equal(true);
}

describe('dns fuzzing (main.ts as a child process)', () => {
  let service: RunningService;
  before(async () => {
    service = await startService(zoneFixture());
  });
  after(() => service.remove());

  const expectStillAnswering = async () => {
    expect(service.child.exitCode, 'the DNS process died').to.equal(null);
    for (const transport of [[], ['+tcp']]) {
      const result = await dig(service.port, 'docs.python.org', 'A', ...transport);
      expect(result.answer.map((r) => r[4])).to.deep.equal(['10.77.0.40']);
    }
  };

  it(`survives ${UDP_PACKETS} random, truncated and bit-flipped UDP packets (seed ${SEED.toString(16)})`, async () => {
    const next = packetMaker(mulberry32(SEED));
    const socket = dgram.createSocket('udp4');
    const replies: Buffer[] = [];
    const sync = dnsPacket.encode({ type: 'query', id: 0, questions: [{ name: 'git.outpost', type: 'A' }] });
    let synced: (() => void) | undefined;
    socket.on('message', (reply) => {
      if (reply.length > 12 && reply.readUInt16BE(0) === 0 && reply.subarray(12, 12 + 13).equals(sync.subarray(12, 25))) synced?.();
      else replies.push(reply);
    });
    await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
    try {
      for (let sent = 0; sent < UDP_PACKETS; ) {
        for (let i = 0; i < UDP_BATCH; i++, sent++) socket.send(next(), service.port, '127.0.0.1');
        // A known query after each batch: its answer means the batch was read (datagrams are in order on loopback).
        for (let attempt = 0; ; attempt++) {
          const answered = new Promise<boolean>((done) => {
            const timer = setTimeout(() => done(false), 1000);
            synced = () => {
              clearTimeout(timer);
              done(true);
            };
          });
          socket.send(sync, service.port, '127.0.0.1');
          if (await answered) break;
          expect(attempt, `no answer to the sync query after packet ${sent} (seed ${SEED.toString(16)})`).to.be.below(5);
        }
      }
    } finally {
      socket.close();
    }
    replies.forEach((reply, i) => expectWellFormed(reply, `UDP reply ${i} (seed ${SEED.toString(16)})`));
    // Most packets are too broken to answer, but the readable ones must have been answered.
    expect(replies.length).to.be.above(UDP_PACKETS / 10);
    await expectStillAnswering();
  });

  it(`survives ${TCP_CONNECTIONS} TCP connections of broken frames (seed ${SEED.toString(16)})`, async () => {
    const random = mulberry32(SEED + 1);
    const next = packetMaker(random);
    const streams = Array.from({ length: TCP_CONNECTIONS }, () => {
      const parts: Buffer[] = [];
      for (let frames = 1 + Math.floor(random() * 5); frames > 0; frames--) parts.push(frame(next()));
      const kind = random();
      if (kind < 0.3) parts.push(frame(next()).subarray(0, 1 + Math.floor(random() * 10)));
      else if (kind < 0.4) parts.push(next());
      return Buffer.concat(parts);
    });
    let answered = 0;
    for (let start = 0; start < streams.length; start += TCP_PARALLEL) {
      const batch = await Promise.all(streams.slice(start, start + TCP_PARALLEL).map((bytes) => tcpExchange(service.port, bytes)));
      batch.forEach((replies, i) => {
        answered += replies.length;
        replies.forEach((reply) => expectWellFormed(reply, `TCP connection ${start + i} (seed ${(SEED + 1).toString(16)})`));
      });
    }
    expect(answered).to.be.above(TCP_CONNECTIONS / 10);
    await expectStillAnswering();
  });
});
