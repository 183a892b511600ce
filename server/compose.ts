/**
 * The docker-compose deployment: `docker-compose.yml` is generated from the same container specs
 * the control plane uses when it runs on the host (`serviceContainers`), so the two cannot drift;
 * a test compares the checked-in file with what this module renders from the default config.
 *
 * Why host directories and not named volumes for Outpost's data (docs/operations.md):
 * - The control plane asks the engine for sandbox and service containers whose bind mounts name
 *   host paths (a student's disk, the agent sockets, the CA). The engine resolves them on the host,
 *   so the control plane must see its data at the very path the host does.
 * - Each student's disk is a loop-mounted ext4 file (the quota). The mount is made inside the
 *   control-plane container and must reach the host for the engine to bind it into the workspace:
 *   only a bind mount with `rshared` propagation does that; a volume mount never propagates.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../core/config.ts';
import { sealedAddresses } from '../fake-internet/network.ts';
import { serviceContainers } from '../fake-internet/index.ts';
import { LABEL, outpostLabels } from '../sandbox/hardening.ts';

export const COMPOSE_CONTROL_SERVICE = 'control';

export interface ComposeOptions {
  /** A config file for the control plane; mounted read-only at the same path. */
  configFile?: string;
}

export function controlContainerName(config: Pick<Config, 'instance'>): string {
  return `outpost-${config.instance}-control`;
}

function composeService(spec: ReturnType<typeof serviceContainers>[number], network: string): Record<string, unknown> {
  const { create } = spec;
  const host = create.HostConfig;
  const ulimits = Object.fromEntries((host.Ulimits ?? []).map((u) => [u.Name, { soft: u.Soft, hard: u.Hard }]));
  return {
    image: create.Image,
    container_name: spec.name,
    hostname: create.Hostname,
    user: create.User,
    command: create.Cmd,
    labels: create.Labels,
    init: host.Init,
    cap_drop: host.CapDrop,
    security_opt: host.SecurityOpt,
    read_only: host.ReadonlyRootfs,
    tmpfs: Object.entries(host.Tmpfs ?? {}).map(([target, options]) => `${target}:${options}`),
    mem_limit: host.Memory,
    memswap_limit: host.MemorySwap,
    pids_limit: host.PidsLimit,
    ulimits,
    sysctls: host.Sysctls,
    networks: { [network]: { ipv4_address: spec.address } },
    restart: host.RestartPolicy?.Name,
    logging: { driver: host.LogConfig?.Type, options: host.LogConfig?.Config },
    volumes: (host.Mounts ?? []).map((m) => ({ type: 'bind', source: m.Source, target: m.Target, read_only: m.ReadOnly ?? false })),
    // The control plane writes each service's configuration before it reports healthy.
    depends_on: { [COMPOSE_CONTROL_SERVICE]: { condition: 'service_healthy' } },
  };
}

/** The compose document for this config (an object; `renderCompose` makes the YAML). */
export function composeDocument(config: Config, options: ComposeOptions = {}): Record<string, unknown> {
  const addresses = sealedAddresses(config.fakeInternet);
  const image = (kind: string) => `${config.images.repository}/${kind}:latest`;
  const networkKey = 'sealed';
  const services: Record<string, unknown> = {};
  const environment: Record<string, string> = {
    // Compose creates and supervises the services; the engine is reached through the socket.
    OUTPOST_FAKE_INTERNET__SERVICES: 'compose',
    OUTPOST_DOCKER__PROVISION: 'false',
  };
  if (options.configFile !== undefined) environment.OUTPOST_CONFIG = options.configFile;
  const port = config.http.port;
  services[COMPOSE_CONTROL_SERVICE] = {
    image: image('control'),
    container_name: controlContainerName(config),
    command: ['serve'],
    labels: outpostLabels(config.instance, 'control', 'control-plane'),
    // The web server listens where `./outpost up` would (config http.host/port), and the sealed
    // network's iptables rules go into the host's DOCKER-USER chain.
    network_mode: 'host',
    // SYS_ADMIN for the loop-mounted student disks, NET_ADMIN for the isolation rules. Not
    // `privileged`: that would hand over every device and capability for two needs.
    cap_add: ['SYS_ADMIN', 'NET_ADMIN'],
    security_opt: ['apparmor=unconfined'],
    // Loop devices (block major 7) and /dev/loop-control (char 10:237), for the disk quotas.
    device_cgroup_rules: ['b 7:* rmw', 'c 10:237 rmw'],
    environment,
    volumes: [
      // The engine's socket: the control plane is the only container that gets it.
      { type: 'bind', source: config.docker.socketPath, target: '/var/run/docker.sock' },
      { type: 'bind', source: config.dataDir, target: config.dataDir, bind: { propagation: 'rshared' } },
      { type: 'bind', source: config.sandbox.runDir, target: config.sandbox.runDir },
      // losetup finds free loop devices in the host's /dev; the cgroup rules above limit it to them.
      { type: 'bind', source: '/dev', target: '/dev' },
      // The host's apt sources name the Debian mirror the images were built from, which is part of
      // their content hash: with them, `doctor` in the container can tell whether images are current.
      { type: 'bind', source: '/etc/apt', target: '/etc/apt', read_only: true },
      ...(options.configFile === undefined ? [] : [{ type: 'bind', source: options.configFile, target: options.configFile, read_only: true }]),
    ],
    restart: 'unless-stopped',
    stop_grace_period: '30s',
    healthcheck: {
      test: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${port}/healthz').then((r) => process.exit(r.status === 200 || r.status === 503 ? 0 : 1), () => process.exit(1))`],
      interval: '5s',
      timeout: '5s',
      retries: 3,
      start_period: '600s',
    },
    logging: { driver: 'json-file', options: { 'max-size': config.docker.logMaxSize, 'max-file': String(config.docker.logMaxFiles) } },
  };
  for (const spec of serviceContainers(config, image('services'))) services[spec.service] = composeService(spec, networkKey);
  return {
    version: '2.4',
    services,
    networks: {
      [networkKey]: {
        name: config.fakeInternet.network,
        driver: 'bridge',
        internal: true,
        // See FINDINGS: without inhibit_ipv4 the host gets an address on an internal network.
        driver_opts: { 'com.docker.network.bridge.inhibit_ipv4': 'true', 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
        ipam: { driver: 'default', config: [{ subnet: addresses.subnet, gateway: addresses.bridgeGateway }] },
        labels: { [LABEL.managed]: 'true', [LABEL.instance]: config.instance, [LABEL.kind]: 'service', [LABEL.owner]: 'network' },
      },
    },
  };
}

const HEADER = `# Outpost as containers, for docker-compose 1.29 (Debian's docker-compose). Generated by
# \`./outpost compose file\` from the configuration; do not edit by hand: change the configuration
# and generate it again. Before the first \`docker-compose up -d\`:
#   ./outpost images build        # base, workspace, services and this control-plane image
#   ./outpost compose prepare     # the data and socket directories, shared for the disk mounts
# The first admin password is printed once in \`docker-compose logs control\`.
# See docs/operations.md ("Running with docker-compose").
`;

export function renderCompose(config: Config, options: ComposeOptions = {}): string {
  return HEADER + stringify(composeDocument(config, options), { lineWidth: 0 });
}

/**
 * The compose file for the configuration in effect, wherever it came from (a --config file,
 * ./outpost.config.json, OUTPOST_* variables): the container sees none of those, so a configuration
 * other than the defaults is written out whole (`effectiveConfig`, for the caller to write) and the
 * control plane reads that file. Otherwise its data, port and instance would silently be the defaults.
 */
export function composeFor(config: Config, defaults: Config): { text: string; effectiveConfig?: { path: string; content: string } } {
  if (JSON.stringify(config) === JSON.stringify(defaults)) return { text: renderCompose(config) };
  const file = path.join(config.dataDir, 'outpost.compose-config.json');
  return { text: renderCompose(config, { configFile: file }), effectiveConfig: { path: file, content: `${JSON.stringify(config, null, 2)}\n` } };
}

/** The mount that holds `dir` (the longest mount point that is a prefix), from /proc/self/mountinfo. */
export function mountHolding(mountinfo: string, dir: string): { mountPoint: string; shared: boolean } | undefined {
  let best: { mountPoint: string; shared: boolean } | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 7) continue;
    const mountPoint = fields[4]!.replace(/\\040/g, ' ');
    const separator = fields.indexOf('-');
    const optional = fields.slice(6, separator < 0 ? undefined : separator);
    const inside = mountPoint === '/' || dir === mountPoint || dir.startsWith(`${mountPoint}/`);
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, shared: optional.some((f) => f.startsWith('shared:')) };
  }
  return best;
}
