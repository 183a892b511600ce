/**
 * The data of the inside internet's DNS and the lookup over it. Pure: no sockets, no clock.
 *
 * The control plane writes a `ZoneData` JSON file; `parseZone` validates it, `compileZone` indexes it
 * once (existing names, empty non-terminals, wildcards), and `resolve` answers one question from the
 * index. Every name outside the data does not exist: the sealed network has no upstream to ask.
 */
import { z } from 'zod';
import type { Answer } from 'dns-packet';
import { OutpostError } from '../../core/errors.ts';

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const RECORD_KEY = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);
const NAME_RULE = 'a lower-case host name without a trailing dot (letters, digits, "-", "_"; labels of 1-63 characters)';

const hostName = z.string().max(253).regex(HOST_NAME, `must be ${NAME_RULE}`);

/** Longest CNAME chain we follow; longer chains (or loops through wildcards) answer SERVFAIL. */
export const MAX_CNAME_CHAIN = 8;

const recordSchema = z
  .object({
    a: z.array(z.ipv4()).min(1).optional(),
    cname: hostName.optional(),
  })
  .strict()
  .refine((r) => (r.a === undefined) !== (r.cname === undefined), {
    message: 'needs exactly one of "a" (IPv4 addresses) or "cname" (a target name): a CNAME cannot share its name with other data',
  });

export const zoneDataSchema = z
  .object({
    serial: z.number().int().min(0).max(0xffffffff),
    ttl: z.number().int().min(0).max(0x7fffffff),
    nameserver: z.object({ name: hostName, address: z.ipv4() }).strict(),
    zones: z.array(hostName).min(1),
    records: z.record(z.string().max(253).regex(RECORD_KEY, `must be ${NAME_RULE}, optionally starting with "*."`), recordSchema),
  })
  .strict()
  .superRefine((zone, ctx) => {
    for (const [name, record] of Object.entries(zone.records)) {
      if (enclosingApex(zone.zones, name) === undefined) {
        ctx.addIssue({ code: 'custom', path: ['records', name], message: `is outside every zone in "zones" (${zone.zones.join(', ')}); add its zone or drop the record` });
      }
      if (record.cname !== undefined && zone.zones.includes(name)) {
        ctx.addIssue({ code: 'custom', path: ['records', name, 'cname'], message: 'a zone apex carries SOA and NS records, so it cannot be a CNAME' });
      }
    }
    for (const start of Object.keys(zone.records)) {
      const seen = new Set<string>();
      let name: string | undefined = start;
      while (name !== undefined && zone.records[name]?.cname !== undefined) {
        if (seen.has(name) || seen.size >= MAX_CNAME_CHAIN) {
          ctx.addIssue({ code: 'custom', path: ['records', start, 'cname'], message: `starts a CNAME chain that loops or is longer than ${MAX_CNAME_CHAIN} (${[...seen].join(' -> ')})` });
          break;
        }
        seen.add(name);
        name = zone.records[name]!.cname;
      }
    }
  });

export type ZoneData = z.infer<typeof zoneDataSchema>;
export type ZoneRecord = ZoneData['records'][string];

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part)) ? `${i === 0 ? '' : '.'}${String(part)}` : `[${JSON.stringify(String(part))}]`)).join('') || '(top level)';
}

/** Validates zone data from outside (the control plane's zone file). Throws DNS_ZONE_INVALID naming the bad field. */
export function parseZone(json: unknown, source = 'The zone data'): ZoneData {
  const parsed = zoneDataSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  // A bad record name comes back as "Invalid key in record" with the real reason nested inside.
  const issues = parsed.error.issues.map((issue) => ({
    path: formatPath(issue.path),
    message: issue.code === 'invalid_key' ? `the name ${issue.issues.map((inner) => inner.message).join('; ')}` : issue.message,
  }));
  const first = issues[0]!;
  throw new OutpostError('DNS_ZONE_INVALID', `${source} is invalid at ${first.path}: ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more problem(s), see details)` : ''}. Fix the zone data and load it again; the DNS keeps answering from the previous zone.`, { details: { issues } });
}

function enclosingApex(apexes: readonly string[], name: string): string | undefined {
  let best: string | undefined;
  for (const apex of apexes) {
    if ((name === apex || name.endsWith(`.${apex}`)) && (best === undefined || apex.length > best.length)) best = apex;
  }
  return best;
}

function parentOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot < 0 ? undefined : name.slice(dot + 1);
}

/** A zone indexed for lookups. Build it once per zone version with `compileZone`. */
export interface Zone {
  readonly data: ZoneData;
  /** Every name that exists: apexes, record owners (wildcard owners included) and the empty non-terminals between them. */
  readonly existing: ReadonlySet<string>;
  readonly records: ReadonlyMap<string, ZoneRecord>;
}

export function compileZone(data: ZoneData): Zone {
  const records = new Map<string, ZoneRecord>(Object.entries(data.records));
  // The nameserver's own name resolves without a record of its own when it lies inside our zones.
  if (!records.has(data.nameserver.name) && enclosingApex(data.zones, data.nameserver.name) !== undefined) {
    records.set(data.nameserver.name, { a: [data.nameserver.address] });
  }
  const existing = new Set<string>(data.zones);
  for (const owner of records.keys()) {
    const apex = enclosingApex(data.zones, owner)!;
    for (let name: string | undefined = owner; name !== undefined && name !== apex; name = parentOf(name)) existing.add(name);
  }
  return { data, existing, records };
}

export type ResolveRcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL';

export interface Resolution {
  rcode: ResolveRcode;
  answers: Answer[];
  authority: Answer[];
}

const SOA_TIMERS = { refresh: 3600, retry: 600, expire: 86400 };

function soaRecord(zone: Zone, apex: string): Answer {
  const { data } = zone;
  return {
    type: 'SOA',
    name: apex === '' ? '.' : apex,
    ttl: data.ttl,
    data: { mname: data.nameserver.name, rname: `hostmaster.${data.nameserver.name}`, serial: data.serial, ...SOA_TIMERS, minimum: data.ttl },
  };
}

/** Negative answer for a name outside every zone: a root SOA so resolvers can still cache the NXDOMAIN. */
export function nameOutsideZones(zone: Zone): Resolution {
  return { rcode: 'NXDOMAIN', answers: [], authority: [soaRecord(zone, '')] };
}

/** The record that owns `name`: exact, or synthesized from the closest encloser's wildcard (RFC 4592). */
function lookup(zone: Zone, name: string): { exists: boolean; record: ZoneRecord | undefined } {
  const exact = zone.records.get(name);
  if (exact !== undefined) return { exists: true, record: exact };
  if (zone.existing.has(name)) return { exists: true, record: undefined };
  for (let encloser = parentOf(name); encloser !== undefined; encloser = parentOf(encloser)) {
    if (zone.existing.has(encloser)) {
      const wildcard = zone.records.get(`*.${encloser}`);
      return { exists: wildcard !== undefined, record: wildcard };
    }
  }
  return { exists: false, record: undefined };
}

function dataOfType(zone: Zone, name: string, apex: string, record: ZoneRecord | undefined, type: string): Answer[] {
  const { ttl } = zone.data;
  const answers: Answer[] = [];
  const wantsAll = type === 'ANY';
  if ((type === 'A' || wantsAll) && record?.a !== undefined) {
    for (const address of record.a) answers.push({ type: 'A', name, ttl, data: address });
  }
  if ((type === 'CNAME' || wantsAll) && record?.cname !== undefined) answers.push({ type: 'CNAME', name, ttl, data: record.cname });
  if (name === apex) {
    if (type === 'SOA' || wantsAll) answers.push(soaRecord(zone, apex));
    if (type === 'NS' || wantsAll) answers.push({ type: 'NS', name, ttl, data: zone.data.nameserver.name });
  }
  return answers;
}

/**
 * Answers one question. `name` may be in any case, with or without the trailing dot; `type` is the
 * dns-packet type name ('A', 'AAAA', 'UNKNOWN_65280', ...). Negative answers (NXDOMAIN, and NOERROR
 * without data) carry the enclosing zone's SOA for negative caching (RFC 2308).
 */
export function resolve(zone: Zone, name: string, type: string): Resolution {
  let current = name.toLowerCase().replace(/\.$/, '');
  let apex = enclosingApex(zone.data.zones, current);
  if (apex === undefined) return nameOutsideZones(zone);
  const answers: Answer[] = [];
  for (let followed = 0; followed <= MAX_CNAME_CHAIN; followed++) {
    const { exists, record } = lookup(zone, current);
    if (!exists) return { rcode: 'NXDOMAIN', answers, authority: [soaRecord(zone, apex)] };
    if (record?.cname !== undefined && type !== 'CNAME' && type !== 'ANY') {
      answers.push({ type: 'CNAME', name: current, ttl: zone.data.ttl, data: record.cname });
      current = record.cname;
      apex = enclosingApex(zone.data.zones, current);
      // A target outside our data: the client gets the CNAME and finds nothing further on its own.
      if (apex === undefined) return { rcode: 'NOERROR', answers, authority: [] };
      continue;
    }
    const found = dataOfType(zone, current, apex, record, type);
    if (found.length > 0) return { rcode: 'NOERROR', answers: [...answers, ...found], authority: [] };
    return { rcode: 'NOERROR', answers, authority: [soaRecord(zone, apex)] };
  }
  return { rcode: 'SERVFAIL', answers: [], authority: [] };
}
