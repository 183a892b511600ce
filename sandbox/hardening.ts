/**
 * The one place that says how a sandbox container is locked down. Workspaces and one-shot grading
 * containers both come from `sandboxContainerSpec`, so they cannot drift apart; a test inspects real
 * containers against `expectedHardening`.
 */
import type Dockerode from 'dockerode';

export const LABEL = {
  managed: 'outpost.managed',
  instance: 'outpost.instance',
  kind: 'outpost.kind',
  owner: 'outpost.owner',
  /** Hash of everything in a container's spec that a config change can alter (network, mounts, limits). */
  spec: 'outpost.spec',
} as const;

/** `control`: the control plane's own container in the docker-compose deployment. */
export type ContainerKind = 'workspace' | 'oneshot' | 'service' | 'control';

export interface SandboxLimits {
  memoryMiB: number;
  cpus: number;
  pids: number;
  tmpfsMiB: number;
  nofile: number;
  fsizeMiB: number;
}

export interface SandboxMount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface SandboxSpecInput {
  name: string;
  image: string;
  instance: string;
  kind: ContainerKind;
  owner: string;
  uid: number;
  limits: SandboxLimits;
  network: string;
  dns: string[];
  mounts: SandboxMount[];
  /** Extra in-memory writable paths (beyond /tmp), e.g. /workspace and /home/student of a one-shot. */
  extraTmpfs?: string[];
  cmd: string[];
  env?: Record<string, string>;
  logMaxSize: string;
  logMaxFiles: number;
  hostname?: string;
  /** Labels beyond the Outpost ones (e.g. the spec hash that tells when to recreate). */
  extraLabels?: Record<string, string>;
}

export function outpostLabels(instance: string, kind: ContainerKind, owner: string): Record<string, string> {
  return { [LABEL.managed]: 'true', [LABEL.instance]: instance, [LABEL.kind]: kind, [LABEL.owner]: owner };
}

const MiB = 1024 * 1024;

export function sandboxContainerSpec(input: SandboxSpecInput): Dockerode.ContainerCreateOptions {
  const memory = input.limits.memoryMiB * MiB;
  // `exec`: students run their own scripts and compiled programs from these; docker's tmpfs default
  // is noexec. Extra tmpfs (a one-shot's /workspace and home) belong to the student.
  const size = `size=${input.limits.tmpfsMiB}m`;
  const tmpfs: Record<string, string> = { '/tmp': `rw,nosuid,nodev,exec,${size},mode=1777` };
  for (const target of input.extraTmpfs ?? []) tmpfs[target] = `rw,nosuid,nodev,exec,${size},mode=0755,uid=${input.uid},gid=${input.uid}`;
  return {
    name: input.name,
    Image: input.image,
    Cmd: input.cmd,
    User: `${input.uid}:${input.uid}`,
    WorkingDir: '/workspace',
    Hostname: input.hostname ?? 'workspace',
    Env: Object.entries(input.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Labels: { ...(input.extraLabels ?? {}), ...outpostLabels(input.instance, input.kind, input.owner) },
    NetworkDisabled: input.network === 'none',
    StopTimeout: 2,
    HostConfig: {
      // docker-init as PID 1 reaps orphans; without it one fork bomb leaves zombies that hold the
      // pids limit forever and the workspace is bricked (see FINDINGS).
      Init: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges:true'],
      Privileged: false,
      ReadonlyRootfs: true,
      Tmpfs: tmpfs,
      Memory: memory,
      MemorySwap: memory,
      MemoryReservation: 0,
      NanoCpus: Math.round(input.limits.cpus * 1e9),
      PidsLimit: input.limits.pids,
      Ulimits: [
        { Name: 'nofile', Soft: input.limits.nofile, Hard: input.limits.nofile },
        { Name: 'fsize', Soft: input.limits.fsizeMiB * MiB, Hard: input.limits.fsizeMiB * MiB },
        { Name: 'core', Soft: 0, Hard: 0 },
      ],
      IpcMode: 'private',
      ShmSize: 64 * MiB,
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      CgroupnsMode: 'private',
      NetworkMode: input.network,
      Dns: input.dns,
      DnsSearch: [],
      ExtraHosts: [],
      Devices: [],
      RestartPolicy: { Name: 'no' },
      LogConfig: { Type: 'json-file', Config: { 'max-size': input.logMaxSize, 'max-file': String(input.logMaxFiles) } },
      Mounts: input.mounts.map((m) => ({
        Type: 'bind' as const,
        Source: m.source,
        Target: m.target,
        ReadOnly: m.readOnly,
        BindOptions: { Propagation: 'rprivate' as const },
      })),
    },
  } as Dockerode.ContainerCreateOptions;
}

/** What a test checks on `docker inspect` of any sandbox container. */
export interface HardeningReport {
  ok: boolean;
  problems: string[];
}

export function checkHardening(info: Dockerode.ContainerInspectInfo, expected: { uid: number; limits: SandboxLimits }): HardeningReport {
  const problems: string[] = [];
  const hc = info.HostConfig as Dockerode.HostConfig & { CgroupnsMode?: string; Init?: boolean; MemorySwap?: number };
  const want = (cond: boolean, what: string) => { if (!cond) problems.push(what); };
  const user = info.Config.User ?? '';
  want(user !== '' && !user.startsWith('0') && !user.startsWith('root'), `runs as non-root (User is "${user}")`);
  want(user.split(':')[0] === String(expected.uid), `User uid is ${expected.uid}`);
  want((hc.CapDrop ?? []).includes('ALL') && (hc.CapAdd ?? []).length === 0, 'CapDrop ALL and no CapAdd');
  want((hc.SecurityOpt ?? []).some((o: string) => o.startsWith('no-new-privileges')), 'no-new-privileges');
  want(!(hc.SecurityOpt ?? []).some((o: string) => o.includes('seccomp=unconfined') || o.includes('apparmor=unconfined')), 'default seccomp (not unconfined)');
  want(hc.Privileged === false, 'not privileged');
  want(hc.ReadonlyRootfs === true, 'read-only root filesystem');
  want(Object.keys(hc.Tmpfs ?? {}).includes('/tmp') && /size=\d+m/.test(hc.Tmpfs?.['/tmp'] ?? ''), 'sized tmpfs on /tmp');
  want(hc.Memory === expected.limits.memoryMiB * MiB, `Memory ${expected.limits.memoryMiB} MiB`);
  want(hc.MemorySwap === hc.Memory, 'MemorySwap equals Memory (no swap)');
  want((hc.NanoCpus ?? 0) > 0 || (hc.CpuQuota ?? 0) > 0, 'CPU quota');
  want(hc.PidsLimit === expected.limits.pids, `PidsLimit ${expected.limits.pids}`);
  const ulimit = (name: string) => (hc.Ulimits ?? []).find((u) => u.Name === name);
  want(ulimit('nofile')?.Hard === expected.limits.nofile, 'nofile ulimit');
  want(ulimit('fsize')?.Hard === expected.limits.fsizeMiB * MiB, 'fsize ulimit');
  want(ulimit('core')?.Hard === 0, 'core ulimit 0');
  want(hc.IpcMode === 'private', 'private IPC');
  want(!hc.PidMode || hc.PidMode === '', 'own PID namespace');
  want(hc.NetworkMode !== 'host', 'not on the host network');
  want(!hc.UTSMode || hc.UTSMode === '', 'own UTS namespace');
  want(!hc.UsernsMode || hc.UsernsMode === '', 'no host user namespace');
  want(hc.Init === true, 'an init that reaps (docker-init)');
  want(hc.LogConfig?.Type === 'json-file' && !!hc.LogConfig?.Config?.['max-size'], 'bounded logs');
  const mounts = info.Mounts ?? [];
  want(!mounts.some((m) => (m.Source ?? '').includes('docker.sock') || m.Destination === '/var/run/docker.sock'), 'no Docker socket mounted');
  want(!mounts.some((m) => m.Source === '/' || m.Source === '/proc' || m.Source === '/sys' || m.Source === '/dev'), 'no host system directory mounted');
  want((hc.Devices ?? []).length === 0, 'no devices');
  const labels = info.Config.Labels ?? {};
  want(labels[LABEL.managed] === 'true' && !!labels[LABEL.instance] && !!labels[LABEL.kind] && !!labels[LABEL.owner], 'Outpost labels (instance, kind, owner)');
  return { ok: problems.length === 0, problems };
}
