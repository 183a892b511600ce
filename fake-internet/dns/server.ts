/**
 * The inside internet's authoritative DNS server: UDP and TCP on one port, answers from a `Zone`.
 *
 * Every workspace's resolver points here, so whatever arrives (a student's hand-made packets
 * included) must never crash it: undecodable datagrams are dropped or answered FORMERR, and any
 * unexpected failure while answering one packet is logged and that packet dropped.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer } from 'dns-packet';
import { OutpostError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { compileZone, nameOutsideZones, resolve, type Resolution, type Zone, type ZoneData } from './zone.ts';

export interface DnsQueryLogEntry {
  time: string;
  /** Source IP: this is how a query is attributed to a student's container. */
  client: string;
  protocol: 'udp' | 'tcp';
  name: string;
  type: string;
  rcode: string;
  answers: string[];
}

export interface DnsServerOptions {
  zone: ZoneData;
  host: string;
  /** 0 picks a free port; UDP and TCP then share the number. */
  port: number;
  log: Logger;
  onQuery?: (entry: DnsQueryLogEntry) => void;
  /** A TCP connection with no complete query for this long is closed. */
  tcpIdleTimeoutMs?: number;
  /** Connections beyond this are closed at once, so idle sockets cannot exhaust the process. */
  maxTcpConnections?: number;
}

export interface DnsServer {
  start(): Promise<{ port: number }>;
  /** Swaps the zone; the next packet is answered from it. */
  setZone(zone: ZoneData): void;
  close(): Promise<void>;
}

const HEADER_BYTES = 12;
const FLAG_QR = 0x8000;
const CLASSIC_UDP_LIMIT = 512;
/** The EDNS payload size we offer and the most we send over UDP (the DNS Flag Day 2020 value). */
const EDNS_UDP_LIMIT = 1232;
const RCODES = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODES;
const BADVERS = 16;
/** Answers to repeated identical packets are reused; the cache is emptied when full or when the zone changes. */
const RESPONSE_CACHE_ENTRIES = 4096;
const CACHEABLE_QUERY_BYTES = 512;
const BIND_ATTEMPTS = 20;

interface Prepared {
  /** The response with the query's id still to be written into bytes 0-1. */
  response: Buffer;
  name: string;
  type: string;
  rcode: string;
  answers: string[];
}

const DROP: Prepared | null = null;

function isHostNameByte(byte: number): boolean {
  return (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x5f || byte === 0x2a;
}

/**
 * Finds where the first question ends, so its bytes can be echoed exactly as sent (0x20 case
 * randomisation included). `name` is null when a label holds bytes no host name has (a dot inside
 * a label, say): such a name cannot be in our data, and turning it into text would change it.
 */
function readQuestion(query: Buffer): { end: number; name: string | null } | undefined {
  const labels: string[] = [];
  let plain = true;
  let offset = HEADER_BYTES;
  for (;;) {
    if (offset >= query.length) return undefined;
    const length = query[offset]!;
    offset += 1;
    if (length === 0) break;
    // Compression pointers (and the reserved label types) have nothing to point back to in the first question.
    if (length > 63 || offset + length > query.length) return undefined;
    for (let i = offset; i < offset + length; i++) if (!isHostNameByte(query[i]!)) plain = false;
    labels.push(query.toString('latin1', offset, offset + length));
    offset += length;
  }
  if (offset + 4 > query.length) return undefined;
  return { end: offset + 4, name: plain ? labels.join('.').toLowerCase() : null };
}

function describeAnswer(answer: Answer): string {
  if (answer.type === 'SOA') return `${answer.name} SOA ${answer.data.mname} ${answer.data.rname} ${answer.data.serial ?? 0}`;
  return `${answer.name} ${answer.type} ${'data' in answer ? String(answer.data) : ''}`;
}

function headerOnly(query: Buffer, rcode: Rcode): Prepared {
  const flags = query.readUInt16BE(2);
  const opcodeAndRd = flags & (0x7800 | dnsPacket.RECURSION_DESIRED);
  const response = dnsPacket.encode({ type: 'response', id: 0, flags: opcodeAndRd | RCODES[rcode] });
  return { response, name: '', type: '', rcode, answers: [] };
}

function withQuestion(query: Buffer, questionEnd: number, packet: dnsPacket.Packet): Buffer {
  // dns-packet never compresses names, so no pointer moves when the question is spliced in.
  const body = dnsPacket.encode({ ...packet, type: 'response', id: 0, questions: [] });
  const question = query.subarray(HEADER_BYTES, questionEnd);
  const out = Buffer.allocUnsafe(body.length + question.length);
  body.copy(out, 0, 0, HEADER_BYTES);
  out.writeUInt16BE(1, 4);
  question.copy(out, HEADER_BYTES);
  body.copy(out, HEADER_BYTES + question.length, HEADER_BYTES);
  return out;
}

function prepare(zone: Zone, query: Buffer, protocol: 'udp' | 'tcp'): Prepared | null {
  if (query.length < HEADER_BYTES) return DROP;
  const flags = query.readUInt16BE(2);
  // Never answer a response: two servers could otherwise bounce packets at each other forever.
  if ((flags & FLAG_QR) !== 0) return DROP;
  if (((flags >> 11) & 0xf) !== 0) return headerOnly(query, 'NOTIMP');
  let decoded: DecodedPacket;
  try {
    decoded = dnsPacket.decode(query);
  } catch {
    return headerOnly(query, 'FORMERR');
  }
  const question = decoded.questions?.[0];
  const located = readQuestion(query);
  const opts = (decoded.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
  if (decoded.questions?.length !== 1 || question === undefined || located === undefined || opts.length > 1) return headerOnly(query, 'FORMERR');
  const opt = opts[0];
  const type = question.type;
  const logged = { name: (located.name ?? question.name).toLowerCase(), type };
  const additionals: Answer[] = [];
  if (opt !== undefined) {
    additionals.push({ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
  }
  const baseFlags = dnsPacket.AUTHORITATIVE_ANSWER | (flags & dnsPacket.RECURSION_DESIRED);
  const answer = (rcode: Rcode | 'BADVERS', sections: { answers?: Answer[]; authorities?: Answer[] }, extraFlags = 0): Prepared => {
    const code = rcode === 'BADVERS' ? BADVERS : RCODES[rcode];
    if (code > 15) (additionals[0] as OptAnswer).extendedRcode = code >> 4;
    const response = withQuestion(query, located.end, { flags: baseFlags | extraFlags | (code & 0xf), ...sections, additionals });
    return { response, ...logged, rcode, answers: (sections.answers ?? []).map(describeAnswer) };
  };
  if (opt !== undefined && opt.ednsVersion !== 0) return answer('BADVERS', {});
  if (question.class !== 'IN' && question.class !== 'ANY') return answer('REFUSED', {});
  const result: Resolution = located.name === null ? nameOutsideZones(zone) : resolve(zone, located.name, type);
  const full = answer(result.rcode, { answers: result.answers, authorities: result.authority });
  if (protocol === 'tcp') return full;
  const limit = opt === undefined ? CLASSIC_UDP_LIMIT : Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_LIMIT), EDNS_UDP_LIMIT);
  if (full.response.length <= limit) return full;
  // Too big for this client's UDP: the TC bit tells it to ask again over TCP.
  return { ...answer(result.rcode, {}, dnsPacket.TRUNCATED_RESPONSE), answers: full.answers };
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Answers a TCP client may leave unread before its queries stop being read. */
const MAX_UNREAD_ANSWER_BYTES = 64 * 1024;

export function createDnsServer(options: DnsServerOptions): DnsServer {
  const { host, log, onQuery } = options;
  const tcpIdleTimeoutMs = options.tcpIdleTimeoutMs ?? 10_000;
  const maxTcpConnections = options.maxTcpConnections ?? 256;
  let zone = compileZone(options.zone);
  const cache = new Map<string, Prepared | null>();
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  const connections = new Set<net.Socket>();

  /** The response to send for `query` from `client`, or undefined to send nothing. */
  function respond(query: Buffer, client: string, protocol: 'udp' | 'tcp'): Buffer | undefined {
    let prepared: Prepared | null;
    try {
      const key = query.length <= CACHEABLE_QUERY_BYTES ? protocol + query.toString('latin1', 2) : undefined;
      const cached = key === undefined ? undefined : cache.get(key);
      if (cached !== undefined) {
        prepared = cached;
      } else {
        prepared = prepare(zone, query, protocol);
        if (key !== undefined) {
          if (cache.size >= RESPONSE_CACHE_ENTRIES) cache.clear();
          cache.set(key, prepared);
        }
      }
    } catch (error) {
      log.warn({ err: error, client, protocol, bytes: query.length }, 'dns: failed to answer a packet; dropped it');
      return undefined;
    }
    if (prepared === null) return undefined;
    const response = Buffer.from(prepared.response);
    query.copy(response, 0, 0, 2);
    if (onQuery !== undefined) {
      try {
        onQuery({ time: new Date().toISOString(), client, protocol, name: prepared.name, type: prepared.type, rcode: prepared.rcode, answers: prepared.answers });
      } catch (error) {
        log.warn({ err: error }, 'dns: the query log callback failed');
      }
    }
    return response;
  }

  function serveTcp(socket: net.Socket): void {
    if (connections.size >= maxTcpConnections) {
      socket.destroy();
      return;
    }
    connections.add(socket);
    const client = unmapped(socket.remoteAddress ?? '');
    let pending = Buffer.alloc(0);
    socket.setTimeout(tcpIdleTimeoutMs, () => socket.destroy());
    // A client that sends queries and never reads the answers would have them all buffered here (the
    // service has 256 MiB, and its restart is everyone's DNS outage): past a small backlog, stop
    // reading queries until the answers drain. The idle timeout then ends a client that never reads.
    const answer = (): void => {
      while (pending.length >= 2) {
        if (socket.writableLength > MAX_UNREAD_ANSWER_BYTES) {
          socket.pause();
          socket.once('drain', () => {
            socket.resume();
            answer();
          });
          return;
        }
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const response = respond(pending.subarray(2, 2 + length), client, 'tcp');
        pending = pending.subarray(2 + length);
        if (response === undefined) continue;
        const framed = Buffer.allocUnsafe(2 + response.length);
        framed.writeUInt16BE(response.length, 0);
        response.copy(framed, 2);
        socket.write(framed);
      }
    };
    socket.on('data', (chunk) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      answer();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
  }

  async function bindUdp(port: number): Promise<dgram.Socket> {
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolveBind, rejectBind) => {
      socket.once('error', rejectBind);
      socket.bind({ port, address: host, exclusive: true }, () => {
        socket.off('error', rejectBind);
        resolveBind();
      });
    });
    socket.on('error', (error) => log.error({ err: error }, 'dns: UDP socket error'));
    socket.on('message', (query, remote) => {
      const response = respond(query, unmapped(remote.address), 'udp');
      // No callback: Node then sends without a completion round-trip, and a lost UDP answer is the client's to retry.
      if (response !== undefined) socket.send(response, remote.port, remote.address);
    });
    return socket;
  }

  async function listenTcp(port: number): Promise<net.Server> {
    // Without half-open sockets our side ends (after flushing answers) when the client ends, which also
    // closes a connection left with a truncated frame: there is nothing to answer in it.
    const server = net.createServer({ allowHalfOpen: false }, serveTcp);
    await new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen({ port, host, exclusive: true }, () => {
        server.off('error', rejectListen);
        resolveListen();
      });
    });
    server.on('error', (error) => log.error({ err: error }, 'dns: TCP listener error'));
    return server;
  }

  async function bindBoth(port: number): Promise<{ udpSocket: dgram.Socket; tcpServer: net.Server }> {
    const udpSocket = await bindUdp(port);
    const chosen = udpSocket.address().port;
    try {
      return { udpSocket, tcpServer: await listenTcp(chosen) };
    } catch (error) {
      udpSocket.close();
      throw error;
    }
  }

  return {
    async start() {
      if (udp !== undefined) throw new OutpostError('INTERNAL', 'The DNS server was started twice; start it once and close it before starting again.');
      let lastError: unknown;
      // With port 0 the free UDP port may be taken for TCP; another pick usually succeeds.
      for (let attempt = 0; attempt < (options.port === 0 ? BIND_ATTEMPTS : 1); attempt++) {
        try {
          const bound = await bindBoth(options.port);
          udp = bound.udpSocket;
          tcp = bound.tcpServer;
          const port = udp.address().port;
          log.info({ host, port }, 'dns: listening on UDP and TCP');
          return { port };
        } catch (error) {
          lastError = error;
        }
      }
      throw new OutpostError('NETWORK_SETUP_FAILED', `The DNS server could not listen on ${host} port ${options.port} (UDP and TCP): ${lastError instanceof Error ? lastError.message : String(lastError)}. Free the port or pick another in the DNS service's config.`, { cause: lastError, details: { host, port: options.port } });
    },

    setZone(next) {
      zone = compileZone(next);
      cache.clear();
    },

    async close() {
      const socket = udp;
      const server = tcp;
      udp = undefined;
      tcp = undefined;
      for (const connection of connections) connection.destroy();
      await Promise.all([
        socket === undefined ? undefined : new Promise<void>((done) => socket.close(() => done())),
        server === undefined ? undefined : new Promise<void>((done) => server.close(() => done())),
      ]);
    },
  };
}
