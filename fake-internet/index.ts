/**
 * The inside internet, assembled: the sealed network, its service containers (DNS, the HTTPS
 * gateway with mirrors and search, the npm registry), their configuration files, the local CA's
 * certificates, and the trust files every sandbox mounts.
 *
 * The control plane has no network path to or from the sealed side: it writes each service's
 * configuration into directories the service mounts read-only (services reload when a file is
 * replaced), and reads what they log from directories they write. Containers are reached only
 * through the engine API.
 */
import type Dockerode from 'dockerode';
import { chown, mkdir, readdir } from 'node:fs/promises';
import { writeFileAtomic } from '../core/files.ts';
import { parseRotatedLogPosition, readRotatedLines } from '../core/jsonl.ts';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import type { Config } from '../core/config.ts';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../core/store.ts';
import { LABEL, outpostLabels } from '../sandbox/hardening.ts';
import type { NetworkAttachment } from '../sandbox/workspaces.ts';
import { applyIsolation, ensureSealedNetwork, hostAddressesOn, sealedAddresses, type SealedAddresses } from './network.ts';
import { createCertificateAuthority, writeGatewayCertificates, type CertificateAuthority } from './pki/ca.ts';
import { createMirrorStore, mirrorMigrations, type MirrorStore } from './mirrors/store.ts';
import { createPackageMirror, registryMigrations, type PackageMirror } from './registry/packages.ts';
import type { ZoneData } from './dns/zone.ts';
import type { GatewayConfigInput, Identities } from './gateway/routes.ts';
import { gitPaths, WORKSPACE_GIT_DIR, type GitHosting } from './git/hosting.ts';
import type { GitSettings } from './git/main.ts';

export { mirrorMigrations, registryMigrations };

/** Which mirrored sites each cohort may visit; a cohort without a row may visit all. */
export const allowlistMigrations = [
  { version: 30, name: 'cohort site allowlists', sql: `create table cohort_sites (cohort text primary key, sites text not null, updated_at text not null, updated_by text not null);` },
  {
    version: 31,
    name: 'network log',
    sql: `
      create table network_log (
        id integer primary key,
        at text not null,
        service text not null,
        client text not null,
        owner text,
        cohort text,
        host text not null,
        detail text not null default '',
        status text not null,
        blocked integer not null default 0
      );
      create index network_log_owner on network_log(owner, at);
      create index network_log_at on network_log(at);
      create table network_log_offsets (file text primary key, offset integer not null);
    `,
  },
  {
    version: 88,
    name: 'network log positions across rotation',
    // Which file (inode) each offset belongs to, so lines in a just-rotated `.1` are still read.
    sql: `alter table network_log_offsets add column position text;`,
  },
];

export interface NetworkLogEntry { id: number; at: string; service: string; client: string; owner: string | null; cohort: string | null; host: string; detail: string; status: string; blocked: number }

export function createAllowlists(store: Store) {
  return {
    get(cohort: string): string[] | 'all' {
      const row = store.db.prepare('select sites from cohort_sites where cohort = ?').get(cohort) as { sites: string } | undefined;
      return row ? (JSON.parse(row.sites) as string[]) : 'all';
    },
    set(cohort: string, sites: string[] | 'all', by: string): void {
      if (sites === 'all') store.db.prepare('delete from cohort_sites where cohort = ?').run(cohort);
      else store.db.prepare('insert into cohort_sites (cohort, sites, updated_at, updated_by) values (?, ?, ?, ?) on conflict(cohort) do update set sites = excluded.sites, updated_at = excluded.updated_at, updated_by = excluded.updated_by').run(cohort, JSON.stringify([...new Set(sites)].sort()), new Date().toISOString(), by);
    },
  };
}

/** Where the git server listens inside its container; only the gateway reaches it. */
const GIT_PORT = 8080;

/** The uid the services image runs as (images/services/Dockerfile). */
export const SERVICE_UID = 990;
export const SERVICES = ['dns', 'gateway', 'registry', 'git'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ServiceStatus {
  service: ServiceName;
  container: string;
  running: boolean;
  restarts: number;
  address: string;
}

export interface FakeInternet {
  readonly addresses: SealedAddresses;
  readonly mirrors: MirrorStore;
  readonly packages: PackageMirror;
  /** Where the registry logs packages it could not serve (for the requested-packages list). */
  readonly registryRequestLog: string;
  /** The names the inside internet serves, each resolving to the gateway. */
  hostnames(): string[];
  /** How sandboxes attach: the sealed network, its DNS, the CA to trust, npm's registry. */
  attachment(): NetworkAttachment;
  /** Network, isolation, CA, configuration files and service containers; idempotent. */
  up(): Promise<void>;
  /** Rewrites zone, certificates and gateway routes (after a mirror import, say); services reload. */
  publish(): Promise<void>;
  /** Tells the gateway which sealed address is which student (and cohort). */
  refreshIdentities(): Promise<void>;
  /** Moves new gateway and DNS log lines into the store, each attributed to its student. */
  ingestLogs(): number;
  networkLog(filter: { owner?: string; host?: string; blocked?: boolean; limit?: number }): NetworkLogEntry[];
  status(): Promise<{ network: { exists: boolean; sealed: boolean; hostAddresses: string[] }; services: ServiceStatus[] }>;
  down(): Promise<void>;
}

export interface FakeInternetDeps {
  docker: Dockerode;
  config: Config;
  store: Store;
  log: Logger;
  image: string;
  /** Cohort of a workspace owner, and the sites that cohort may visit ('all' by default). */
  cohortOf?: (owner: string) => string | undefined;
  allowedSites?: (cohort: string) => string[] | 'all';
  /** Git hosting: where repositories, the access file and workspaces' git identities live. */
  git: GitHosting;
}

/** Where the inside internet keeps its files on the host. */
export function fakeInternetDirs(config: Pick<Config, 'dataDir'>) {
  const root = path.join(config.dataDir, 'fake-internet');
  return {
    etc: (service: string) => path.join(root, 'etc', service),
    logs: (service: string) => path.join(root, 'logs', service),
    certs: path.join(root, 'certs'),
    trust: path.join(root, 'trust'),
    pki: path.join(config.dataDir, 'pki'),
    mirrors: path.join(config.dataDir, 'mirrors'),
    registry: path.join(config.dataDir, 'registry'),
  };
}

/** The names the inside internet's own services answer, each with what answers it (for messages). */
export function serviceHostsReserved(config: Pick<Config, 'fakeInternet' | 'git'>): ReadonlyMap<string, string> {
  const zone = config.fakeInternet.serviceZone;
  const reserved = new Map<string, string>([
    [`registry.${zone}`, 'the npm registry mirror\'s name'],
    [`search.${zone}`, 'the search site\'s name'],
    [`git.${zone}`, 'the git server\'s name'],
    [`ns.${zone}`, 'the DNS server\'s name'],
    [`dns.${zone}`, 'the DNS server\'s name'],
  ]);
  for (const alias of config.git.aliases) {
    if (!reserved.has(alias)) reserved.set(alias, `an alias of the git server (git.aliases in the configuration; take it out there first to mirror the real ${alias})`);
  }
  return reserved;
}

export const serviceContainerName = (config: Pick<Config, 'instance'>, service: ServiceName) => `outpost-${config.instance}-svc-${service}`;

export interface ServiceContainer {
  service: ServiceName;
  name: string;
  address: string;
  /** The engine's create options: what `./outpost up` creates, and what docker-compose.yml is generated from. */
  create: Dockerode.ContainerCreateOptions & { name: string; Labels: Record<string, string>; HostConfig: Dockerode.HostConfig };
}

/**
 * Each service container, hardened: one source for the containers the control plane creates and
 * for the generated docker-compose.yml, so the two cannot drift apart.
 */
export function serviceContainers(config: Config, image: string): ServiceContainer[] {
  const dirs = fakeInternetDirs(config);
  const git = gitPaths(config);
  const addresses = sealedAddresses(config.fakeInternet);
  const network = config.fakeInternet.network;
  const logs = (s: ServiceName) => ({ source: dirs.logs(s), target: '/var/log/outpost', readOnly: false });
  const node = (file: string, configFile: string) => ['node', `/opt/outpost/services/${file}`, '--config', configFile];
  const specs: { service: ServiceName; address: string; cmd: string[]; mounts: { source: string; target: string; readOnly: boolean }[]; memoryMiB: number }[] = [
    { service: 'dns', address: addresses.dns, memoryMiB: 256, cmd: node('dns.mjs', '/etc/outpost/dns/dns.json'), mounts: [
      { source: dirs.etc('dns'), target: '/etc/outpost/dns', readOnly: true },
      { source: dirs.etc('zone'), target: '/etc/outpost/zone', readOnly: true }, logs('dns')] },
    { service: 'gateway', address: addresses.gateway, memoryMiB: 512, cmd: node('gateway.mjs', '/etc/outpost/gateway/gateway.json'), mounts: [
      { source: dirs.etc('gateway'), target: '/etc/outpost/gateway', readOnly: true },
      { source: dirs.etc('identity'), target: '/etc/outpost/identity', readOnly: true },
      { source: dirs.certs, target: '/etc/outpost/certs', readOnly: true },
      { source: dirs.mirrors, target: '/srv/mirrors', readOnly: true }, logs('gateway')] },
    { service: 'git', address: addresses.git, memoryMiB: 1024, cmd: node('git.mjs', '/etc/outpost/git/git.json'), mounts: [
      { source: dirs.etc('git'), target: '/etc/outpost/git', readOnly: true },
      { source: path.dirname(git.accessFile), target: '/etc/outpost/git-access', readOnly: true },
      { source: git.reposDir, target: '/srv/git', readOnly: false }, logs('git')] },
    { service: 'registry', address: addresses.registry, memoryMiB: 512, cmd: node('registry.mjs', '/etc/outpost/registry/registry.json'), mounts: [
      { source: dirs.etc('registry'), target: '/etc/outpost/registry', readOnly: true },
      { source: dirs.registry, target: '/srv/registry', readOnly: false }, logs('registry')] },
  ];
  return specs.map((spec) => {
    const name = serviceContainerName(config, spec.service);
    const memory = spec.memoryMiB * 1024 * 1024;
    return {
      service: spec.service,
      name,
      address: spec.address,
      create: {
        name,
        Image: image,
        Cmd: spec.cmd,
        User: `${SERVICE_UID}:${SERVICE_UID}`,
        Hostname: spec.service,
        Labels: outpostLabels(config.instance, 'service', spec.service),
        HostConfig: {
          Init: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges:true'],
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': 'rw,nosuid,nodev,noexec,size=64m' },
          Memory: memory,
          MemorySwap: memory,
          PidsLimit: 256,
          Ulimits: [{ Name: 'nofile', Soft: 8192, Hard: 8192 }, { Name: 'core', Soft: 0, Hard: 0 }],
          // Ports 53, 80 and 443 without a capability: the sysctl is per network namespace.
          Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
          NetworkMode: network,
          // Supervision: the engine restarts a service that dies.
          RestartPolicy: { Name: 'unless-stopped' },
          LogConfig: { Type: 'json-file', Config: { 'max-size': config.docker.logMaxSize, 'max-file': String(config.docker.logMaxFiles) } },
          Mounts: spec.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly, BindOptions: { Propagation: 'rprivate' as const } })),
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: spec.address } } } },
      },
    };
  });
}

export function createFakeInternet(deps: FakeInternetDeps): FakeInternet {
  const { docker, config, store, log } = deps;
  const fi = config.fakeInternet;
  const addresses = sealedAddresses(fi);
  const dirs = fakeInternetDirs(config);
  const zone = fi.serviceZone;
  const serviceHost = (name: string) => `${name}.${zone}`;
  const reservedHosts = serviceHostsReserved(config);
  const mirrors = createMirrorStore({ store, dir: dirs.mirrors, log: log.child({ module: 'mirrors' }), reservedHosts: () => reservedHosts });
  const packages = createPackageMirror({ storageDir: dirs.registry, store, log: log.child({ module: 'packages' }) });
  const containerName = (service: ServiceName) => serviceContainerName(config, service);
  let ca: CertificateAuthority | undefined;
  let identities: Identities = { clients: {}, cohorts: {} };
  let identitiesWritten = false;

  async function certificateAuthority(): Promise<CertificateAuthority> {
    ca ??= await createCertificateAuthority({ dir: dirs.pki, log: log.child({ module: 'pki' }) });
    return ca;
  }

  function hostnames(): string[] {
    const names = new Set<string>([serviceHost('registry'), serviceHost('search'), serviceHost('git'), ...config.git.aliases]);
    for (const site of mirrors.sites()) names.add(site.host);
    return [...names].sort();
  }

  /** Zones: the service zone, and each served name's parent domain (docs.python.org → python.org). */
  function zoneData(): ZoneData {
    const records: ZoneData['records'] = {};
    const zones = new Set<string>([zone]);
    for (const host of hostnames()) {
      records[host] = { a: [addresses.gateway] };
      const labels = host.split('.');
      zones.add(labels.length > 2 ? labels.slice(-2).join('.') : host);
    }
    records[serviceHost('ns')] = { a: [addresses.dns] };
    records[serviceHost('dns')] = { a: [addresses.dns] };
    return { serial: Math.floor(Date.now() / 1000), ttl: 60, nameserver: { name: serviceHost('ns'), address: addresses.dns }, zones: [...zones].sort(), records };
  }

  /**
   * A site imported at a service's name before imports checked for that (or before the name became
   * a git alias) would make the gateway refuse its whole configuration; leave it out and say so.
   */
  function mirrorSitesToServe(): ReturnType<MirrorStore['sites']> {
    return mirrors.sites().filter((site) => {
      const reservedFor = reservedHosts.get(site.host);
      if (reservedFor !== undefined) log.warn({ site: site.name, host: site.host, reservedFor }, `the mirrored site "${site.name}" is not served: ${site.host} is ${reservedFor}. Remove it (./outpost mirror remove ${site.name}) and import it under another host.`);
      return reservedFor === undefined;
    });
  }

  function gatewayConfig(): GatewayConfigInput {
    return {
      certsDir: '/etc/outpost/certs',
      requestLog: '/var/log/outpost/gateway.jsonl',
      identityFile: '/etc/outpost/identity/identity.json',
      searchUrl: `//${serviceHost('search')}/`,
      sites: [
        ...mirrorSitesToServe().map((s) => ({ kind: 'static' as const, name: s.name, host: s.host, pathPrefix: s.pathPrefix, root: path.posix.join('/srv/mirrors/sites', s.name), ...(s.extensionless ? { extensionless: true } : {}) })),
        { kind: 'search' as const, name: 'search', host: serviceHost('search'), pathPrefix: '/', searchDb: '/srv/mirrors/search.db' },
        { kind: 'proxy' as const, name: 'registry', host: serviceHost('registry'), pathPrefix: '/', upstream: `http://${addresses.registry}:4873` },
        ...[serviceHost('git'), ...config.git.aliases].map((host) => ({ kind: 'proxy' as const, name: 'git', host, pathPrefix: '/', upstream: `http://${addresses.git}:${GIT_PORT}` })),
      ],
    };
  }

  async function writeJson(file: string, value: unknown, mode = 0o644): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode);
  }

  async function ensureDir(dir: string, owner?: number): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (owner !== undefined) await chown(dir, owner, owner);
  }

  async function publish(): Promise<void> {
    const authority = await certificateAuthority();
    await ensureDir(dirs.trust);
    await writeFileAtomic(path.join(dirs.trust, 'outpost-ca.crt'), authority.caCertPem());
    await ensureDir(dirs.certs, SERVICE_UID);
    await writeGatewayCertificates(authority, hostnames(), dirs.certs);
    // Keys are 0600: the gateway's unprivileged user must own them.
    for (const file of await readdir(dirs.certs)) await chown(path.join(dirs.certs, file), SERVICE_UID, SERVICE_UID);
    await writeJson(path.join(dirs.etc('zone'), 'zone.json'), zoneData());
    await writeJson(path.join(dirs.etc('gateway'), 'gateway.json'), gatewayConfig());
    await writeJson(path.join(dirs.etc('dns'), 'dns.json'), { zoneFile: '/etc/outpost/zone/zone.json', logFile: '/var/log/outpost/dns.jsonl', host: '0.0.0.0', port: 53 });
    const gitSettings: GitSettings = {
      reposDir: '/srv/git', accessFile: '/etc/outpost/git-access/access.json', pushLog: '/var/log/outpost/git.jsonl',
      maxPushBytes: config.git.maxPushMiB * 1024 * 1024, port: GIT_PORT, trustedProxies: [addresses.gateway],
      timeoutSeconds: config.git.timeoutSeconds, maxConcurrent: config.git.maxConcurrent,
    };
    await writeJson(path.join(dirs.etc('git'), 'git.json'), gitSettings);
    await deps.git.publishAccess();
    await writeJson(path.join(dirs.etc('registry'), 'registry.json'), { storageDir: '/srv/registry', listen: '0.0.0.0:4873', publicUrl: `https://${serviceHost('registry')}/`, requestLog: '/var/log/outpost/registry.jsonl' });
    if (!(await readdir(dirs.etc('identity')).catch(() => [] as string[])).includes('identity.json')) await writeJson(path.join(dirs.etc('identity'), 'identity.json'), { clients: {}, cohorts: {} });
  }

  async function ensureService(spec: ServiceContainer, imageId: string): Promise<void> {
    const specHash = createHash('sha256').update(JSON.stringify({ create: spec.create, imageId })).digest('hex').slice(0, 16);
    const existing = await docker.getContainer(spec.name).inspect().catch(() => undefined);
    const composeProject = existing?.Config.Labels?.['com.docker.compose.project'];
    if (composeProject !== undefined) {
      // Replacing compose's container would leave compose and Outpost fighting over the service.
      throw new OutpostError('CONFIG_INVALID', `The service ${spec.name} is run by docker-compose (project ${composeProject}), but this command runs with fakeInternet.services = engine. Run it inside the control-plane container (docker-compose exec control outpost …), or set OUTPOST_FAKE_INTERNET__SERVICES=compose.`);
    }
    if (existing && existing.Config.Labels?.[LABEL.spec] === specHash) {
      if (!existing.State.Running) await docker.getContainer(spec.name).start();
      return;
    }
    if (existing) await docker.getContainer(spec.name).remove({ force: true });
    const container = await docker.createContainer({ ...spec.create, Labels: { ...spec.create.Labels, [LABEL.spec]: specHash } });
    await container.start();
    log.info({ service: spec.service, address: spec.address }, 'service container started');
  }

  /**
   * Under compose the services start only after the control plane is healthy, so sandboxes wait
   * for them (see NetworkAttachment.ready); `up` creates them before any sandbox and needs no wait.
   */
  let servicesUp: Promise<void> | undefined;
  function servicesReady(): Promise<void> {
    if (fi.services === 'engine') return Promise.resolve();
    servicesUp ??= (async () => {
      let said = false;
      for (;;) {
        const states = await Promise.all(serviceContainers(config, deps.image).map((spec) => docker.getContainer(spec.name).inspect().then((c) => c.State.Running, () => false)));
        if (states.every(Boolean)) return;
        if (!said) log.info('waiting for docker-compose to start the sealed network\'s services before making sandboxes');
        said = true;
        await sleep(500);
      }
    })();
    return servicesUp;
  }

  /** With compose owning the service containers, the control plane only says which are missing. */
  async function checkComposeService(spec: ServiceContainer): Promise<void> {
    const existing = await docker.getContainer(spec.name).inspect().catch(() => undefined);
    if (!existing?.State.Running) log.info({ service: spec.service, container: spec.name }, 'service container not running yet; docker-compose starts it');
  }

  /**
   * Services also watch their configuration directories, but a replacement can slip between two
   * watches; a SIGHUP through the engine (docker-init passes it on) makes the reload certain.
   */
  async function reload(service: ServiceName): Promise<void> {
    await docker.getContainer(containerName(service)).kill({ signal: 'SIGHUP' }).catch(() => undefined);
  }

  async function imageId(): Promise<string> {
    try {
      return (await docker.getImage(deps.image).inspect()).Id;
    } catch {
      throw new OutpostError('IMAGE_MISSING', `The services image ${deps.image} is missing. Build it with ./outpost images build.`);
    }
  }

  return {
    addresses,
    mirrors,
    packages,
    registryRequestLog: path.join(dirs.logs('registry'), 'registry.jsonl'),
    hostnames,

    attachment() {
      return {
        network: fi.network,
        dns: [addresses.dns],
        mounts: [
          // Only Outpost's CA: everything a sandbox can reach is served under it.
          { source: path.join(dirs.trust, 'outpost-ca.crt'), target: '/etc/ssl/certs/ca-certificates.crt', readOnly: true },
          { source: path.join(dirs.trust, 'outpost-ca.crt'), target: '/usr/local/share/ca-certificates/outpost-ca.crt', readOnly: true },
        ],
        // Each student's git identity and token, readable in their own workspace only.
        ownerMounts: [{ sourceRoot: deps.git.paths.workspaceDir, target: WORKSPACE_GIT_DIR }],
        env: {
          GIT_CONFIG_SYSTEM: `${WORKSPACE_GIT_DIR}/config`,
          NODE_EXTRA_CA_CERTS: '/usr/local/share/ca-certificates/outpost-ca.crt',
          NPM_CONFIG_REGISTRY: `https://${serviceHost('registry')}/`,
          NPM_CONFIG_UPDATE_NOTIFIER: 'false',
        },
        ready: servicesReady,
      };
    },

    async up() {
      const id = fi.services === 'engine' ? await imageId() : '';
      const network = await ensureSealedNetwork({ docker, name: fi.network, addresses, labels: outpostLabels(config.instance, 'service', 'network'), log });
      await applyIsolation({ networkName: fi.network, bridge: network.bridge, services: addresses.services, internal: { addresses: addresses.internal, gateway: addresses.gateway }, log });
      for (const s of SERVICES) await ensureDir(dirs.logs(s), SERVICE_UID);
      await ensureDir(deps.git.paths.reposDir, SERVICE_UID);
      await ensureDir(path.dirname(deps.git.paths.accessFile), SERVICE_UID);
      await ensureDir(dirs.registry, SERVICE_UID);
      await ensureDir(dirs.mirrors);
      await publish();
      for (const spec of serviceContainers(config, deps.image)) {
        if (fi.services === 'compose') await checkComposeService(spec);
        else await ensureService(spec, id);
      }
    },

    async publish() {
      await publish();
      await Promise.all(SERVICES.map(reload));
    },

    async refreshIdentities() {
      const containers = await docker.listContainers({ filters: { label: [`${LABEL.instance}=${config.instance}`, `${LABEL.kind}=workspace`] } });
      const next: Identities = { clients: {}, cohorts: {} };
      for (const c of containers) {
        const owner = c.Labels[LABEL.owner];
        const ip = c.NetworkSettings?.Networks?.[fi.network]?.IPAddress;
        if (!owner || !ip) continue;
        const cohort = deps.cohortOf?.(owner);
        next.clients[ip] = cohort ? { owner, cohort } : { owner };
        // Own keys only: a cohort may be called "constructor" (see the gateway's allows()).
        if (cohort && !Object.hasOwn(next.cohorts, cohort)) next.cohorts[cohort] = { allowedSites: deps.allowedSites?.(cohort) ?? 'all' };
      }
      // A reload empties the gateway's file cache: only tell it when something changed.
      if (JSON.stringify(next) === JSON.stringify(identities) && identitiesWritten) return;
      await writeJson(path.join(dirs.etc('identity'), 'identity.json'), next);
      identities = next;
      identitiesWritten = true;
      await reload('gateway');
    },

    ingestLogs() {
      const insert = store.db.prepare('insert into network_log (at, service, client, owner, cohort, host, detail, status, blocked) values (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      let count = 0;
      for (const [service, file] of [['gateway', path.join(dirs.logs('gateway'), 'gateway.jsonl')], ['dns', path.join(dirs.logs('dns'), 'dns.jsonl')]] as const) {
        count += ingestJsonLines(store, log, service, file, (entry) => {
          const client = String(entry.client ?? '');
          // The gateway names the student itself; a DNS query carries only the address.
          const who = identities.clients[client];
          const owner = (entry.owner as string | undefined) ?? who?.owner ?? null;
          const cohort = (entry.cohort as string | undefined) ?? who?.cohort ?? null;
          if (service === 'gateway') insert.run(String(entry.time), service, client, owner, cohort, String(entry.host ?? ''), `${String(entry.method ?? '')} ${String(entry.path ?? '')}`.slice(0, 2100), String(entry.status ?? ''), entry.blocked ? 1 : 0);
          else insert.run(String(entry.time), service, client, owner, cohort, String(entry.name ?? ''), String(entry.type ?? ''), String(entry.rcode ?? ''), 0);
        });
      }
      return count;
    },

    networkLog(filter) {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: Math.min(filter.limit ?? 500, 10_000) };
      if (filter.owner) { where.push('owner = @owner'); params.owner = filter.owner; }
      if (filter.host) { where.push('host like @host'); params.host = `%${filter.host}%`; }
      if (filter.blocked) where.push('blocked = 1');
      return store.db.prepare(`select * from network_log ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc limit @limit`).all(params) as NetworkLogEntry[];
    },

    async status() {
      const info = await docker.getNetwork(fi.network).inspect().catch(() => undefined);
      const bridge = info ? (info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`) : undefined;
      const services: ServiceStatus[] = [];
      for (const spec of serviceContainers(config, deps.image)) {
        const c = await docker.getContainer(spec.name).inspect().catch(() => undefined);
        services.push({ service: spec.service, container: spec.name, running: c?.State.Running ?? false, restarts: c?.RestartCount ?? 0, address: spec.address });
      }
      return {
        network: { exists: info !== undefined, sealed: info !== undefined && info.Internal === true && info.Options?.['com.docker.network.bridge.inhibit_ipv4'] === 'true', hostAddresses: bridge ? await hostAddressesOn(bridge) : [] },
        services,
      };
    },

    async down() {
      // docker-compose down removes what compose created.
      if (fi.services === 'compose') return;
      for (const s of SERVICES) await docker.getContainer(containerName(s)).remove({ force: true }).catch(() => undefined);
    },
  };
}

/**
 * Drops network log rows older than `before` (ISO time), a batch per transaction so a year's worth
 * never holds the store's write lock for long. The audit log is not this: it is never pruned.
 */
export function pruneNetworkLog(store: Store, before: string, batch = 10_000): number {
  const remove = store.db.prepare('delete from network_log where id in (select id from network_log where at < ? order by id limit ?)');
  let total = 0;
  for (;;) {
    const { changes } = remove.run(before, batch);
    total += changes;
    if (changes < batch) return total;
  }
}

/**
 * Hands each new line of a rotated JSON-lines log to `onEntry`, keeping the position in the store
 * with the rows. Lines lost to rotation (the log rotated twice between two reads, say by a student
 * flooding it to bury a blocked request) become a `log-gap` row, so the hole is seen, not silent.
 */
function ingestJsonLines(store: Store, log: Logger, service: string, file: string, onEntry: (entry: Record<string, unknown>) => void): number {
  const row = store.db.prepare('select offset, position from network_log_offsets where file = ?').get(file) as { offset: number; position: string | null } | undefined;
  const previous = parseRotatedLogPosition(row?.position);
  const { lines, position, gaps } = readRotatedLines(file, previous, previous === undefined ? row?.offset : undefined);
  const saved = JSON.stringify(position);
  if (lines.length === 0 && gaps.length === 0 && saved === row?.position) return 0;
  const live = position.files.find((f) => f.live)?.offset ?? 0;
  let count = 0;
  store.db.transaction(() => {
    for (const line of lines) {
      try { onEntry(JSON.parse(line) as Record<string, unknown>); count++; } catch { /* a foreign line: skip it */ }
    }
    for (const gap of gaps) {
      store.db.prepare("insert into network_log (at, service, client, owner, cohort, host, detail, status, blocked) values (?, ?, '', null, null, '', ?, 'log-gap', 0)")
        .run(new Date().toISOString(), service, `${gap.reason} (${gap.bytes}${gap.more ? '+' : ''} bytes).`.slice(0, 2100));
    }
    store.db.prepare('insert into network_log_offsets (file, offset, position) values (?, ?, ?) on conflict(file) do update set offset = excluded.offset, position = excluded.position').run(file, live, saved);
  })();
  for (const gap of gaps) log.warn({ service, file, bytes: gap.bytes, more: gap.more }, `network log lines were lost before they could be read: ${gap.reason}. The network log has a gap here; a flood of requests around this time may have been meant to bury one.`);
  return count;
}
