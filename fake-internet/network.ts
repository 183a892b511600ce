/**
 * The sealed network: the "inside internet" every sandbox is attached to, and nothing else.
 *
 * - `--internal`, so nothing on it is routed anywhere;
 * - `com.docker.network.bridge.inhibit_ipv4`, so the HOST gets no address on the bridge: on this
 *   engine an internal network otherwise gives the host its gateway address, and a control plane
 *   listening on 0.0.0.0 would answer students (see FINDINGS);
 * - an iptables chain that lets traffic on the bridge go only to and from Outpost's service
 *   containers, so one student's container cannot reach another's (Docker's own `icc=false` would
 *   cut students off from the services too). The rules live in a chain of our own, jumped to from
 *   DOCKER-USER, and are rewritten whole at every start, so they are back after a reboot.
 */
import type Dockerode from 'dockerode';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { OutpostError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Config } from '../core/config.ts';

const run = promisify(execFile);

export interface SealedAddresses {
  subnet: string;
  /** The bridge's nominal gateway: no host interface holds it (inhibit_ipv4). */
  bridgeGateway: string;
  dns: string;
  gateway: string;
  registry: string;
  git: string;
  /** Service containers: the only peers sandboxes may talk to. */
  services: string[];
  /** Services only the gateway may talk to (sandboxes reach them through it, authenticated and logged). */
  internal: string[];
}

export function sealedAddresses(config: Config['fakeInternet']): SealedAddresses {
  const prefix = config.subnet.replace(/\.0\/24$/, '.');
  const at = (host: number) => `${prefix}${host}`;
  const dns = at(config.hosts.dns);
  const gateway = at(config.hosts.gateway);
  const registry = at(config.hosts.registry);
  const git = at(config.hosts.git);
  // The registry is reached through the gateway only (registry.outpost resolves to it), like git: that
  // is where the cohort allowlist and the request log are, and where X-Forwarded-For is set.
  return { subnet: config.subnet, bridgeGateway: at(1), dns, gateway, registry, git, services: [dns, gateway], internal: [git, registry] };
}

export interface SealedNetwork {
  id: string;
  name: string;
  bridge: string;
  created: boolean;
}

export async function ensureSealedNetwork(deps: { docker: Dockerode; name: string; addresses: SealedAddresses; labels: Record<string, string>; log: Logger }): Promise<SealedNetwork> {
  const { docker, name, addresses } = deps;
  let info = await docker.getNetwork(name).inspect().catch((error: { statusCode?: number }) => {
    if (error.statusCode === 404) return undefined;
    throw new OutpostError('ENGINE_UNAVAILABLE', `Cannot inspect the network ${name}: ${String((error as Error).message)}`);
  });
  let created = false;
  if (!info) {
    await docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      Internal: true,
      CheckDuplicate: true,
      EnableIPv6: false,
      IPAM: { Driver: 'default', Config: [{ Subnet: addresses.subnet, Gateway: addresses.bridgeGateway }] },
      Options: { 'com.docker.network.bridge.inhibit_ipv4': 'true', 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
      Labels: deps.labels,
    }).catch((error: Error) => {
      throw new OutpostError('NETWORK_SETUP_FAILED', `Cannot create the sealed network ${name} (${addresses.subnet}): ${error.message}. If the subnet is in use on this machine, set fakeInternet.subnet to a free /24.`);
    });
    info = await docker.getNetwork(name).inspect();
    created = true;
    deps.log.info({ name, subnet: addresses.subnet }, 'sealed network created');
  }
  const problems = checkSealed(info, addresses);
  if (problems.length) {
    throw new OutpostError('NETWORK_SETUP_FAILED', `The network ${name} exists but is not sealed: ${problems.join('; ')}. Remove it (docker network rm ${name}, after stopping what uses it) and start Outpost again; it will be recreated sealed.`);
  }
  return { id: info.Id, name, bridge: bridgeName(info), created };
}

export function checkSealed(info: Dockerode.NetworkInspectInfo, addresses: SealedAddresses): string[] {
  const problems: string[] = [];
  if (!info.Internal) problems.push('it is not internal');
  if (info.Options?.['com.docker.network.bridge.inhibit_ipv4'] !== 'true') problems.push('the host has an address on it (inhibit_ipv4 is not set)');
  const subnet = info.IPAM?.Config?.[0]?.Subnet;
  if (subnet !== addresses.subnet) problems.push(`its subnet is ${subnet ?? 'unset'}, not ${addresses.subnet}`);
  return problems;
}

export function bridgeName(info: Dockerode.NetworkInspectInfo): string {
  return info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`;
}

/** Addresses the host holds on the bridge (there must be none). */
export async function hostAddressesOn(bridge: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', bridge]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').map((l) => /inet (\S+)/.exec(l)?.[1]).filter((a): a is string => a !== undefined);
}

/** Two chains per network, used in turn, so rules are replaced without a moment of no rules. */
export function isolationChains(networkName: string): [string, string] {
  // iptables chain names are at most 28 characters.
  const base = `OUTPOST-${networkName.replace(/[^A-Za-z0-9]/g, '').slice(0, 18).toUpperCase()}`;
  return [`${base}-A`, `${base}-B`];
}

/**
 * Writes the rules that allow bridge traffic only to and from the service addresses into the
 * chain not in use, makes DOCKER-USER jump to it first, and only then drops the old chain, so
 * students are never able to reach each other while the rules change. Idempotent.
 */
export async function applyIsolation(deps: { networkName: string; bridge: string; services: string[]; internal?: { addresses: string[]; gateway: string }; log: Logger }): Promise<void> {
  const ipt = async (...args: string[]) => {
    try {
      await run('iptables', ['-w', ...args]);
    } catch (error) {
      throw new OutpostError('NETWORK_SETUP_FAILED', `iptables ${args.join(' ')} failed: ${String((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}. Outpost needs root and the engine's iptables chains (start dockerd with iptables enabled).`, { cause: error });
    }
  };
  const exists = (...args: string[]) => run('iptables', ['-w', ...args]).then(() => true, () => false);
  const bridgeNf = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  if (!existsSync(bridgeNf)) {
    throw new OutpostError('NETWORK_SETUP_FAILED', 'Bridged traffic does not pass through iptables on this host (br_netfilter is not loaded), so students could reach each other. Run `modprobe br_netfilter` and start Outpost again.');
  }
  // Loaded but switched off, bridged traffic skips every rule below just the same.
  if (readFileSync(bridgeNf, 'utf8').trim() !== '1') {
    throw new OutpostError('NETWORK_SETUP_FAILED', `Bridged traffic does not pass through iptables on this host (${bridgeNf} is not 1), so students could reach each other. Run \`sysctl -w net.bridge.bridge-nf-call-iptables=1\` and start Outpost again.`);
  }
  const [a, b] = isolationChains(deps.networkName);
  const [next, previous] = (await exists('-C', 'DOCKER-USER', '-j', a)) ? [b, a] : [a, b];
  if (!(await exists('-n', '-L', next))) await ipt('-N', next);
  await ipt('-F', next);
  for (const address of deps.internal?.addresses ?? []) {
    const via = deps.internal!.gateway;
    await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-s', `${via}/32`, '-d', `${address}/32`, '-j', 'ACCEPT');
    await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-s', `${address}/32`, '-d', `${via}/32`, '-j', 'ACCEPT');
    await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-d', `${address}/32`, '-j', 'DROP');
    await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-s', `${address}/32`, '-j', 'DROP');
  }
  for (const address of deps.services) {
    await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-d', `${address}/32`, '-j', 'ACCEPT');
    await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-s', `${address}/32`, '-j', 'ACCEPT');
  }
  await ipt('-A', next, '-i', deps.bridge, '-o', deps.bridge, '-j', 'DROP');
  await ipt('-A', next, '-j', 'RETURN');
  if (!(await exists('-C', 'DOCKER-USER', '-j', next))) await ipt('-I', 'DOCKER-USER', '1', '-j', next);
  await dropChain(previous);
  deps.log.info({ chain: next, bridge: deps.bridge, services: deps.services }, 'sealed network isolation applied');
}

async function dropChain(chain: string): Promise<void> {
  while (await run('iptables', ['-w', '-D', 'DOCKER-USER', '-j', chain]).then(() => true, () => false)) { /* remove every jump */ }
  await run('iptables', ['-w', '-F', chain]).catch(() => undefined);
  await run('iptables', ['-w', '-X', chain]).catch(() => undefined);
}

export async function removeIsolation(networkName: string): Promise<void> {
  for (const chain of isolationChains(networkName)) await dropChain(chain);
}
