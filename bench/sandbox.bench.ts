/**
 * Sandbox benchmark: prints JSON with each figure next to a baseline measured in the same run on
 * the same machine, and the ratio. Not a test: nothing here asserts a time.
 *
 *  exec:   `true` in a warm workspace through the engine (agent)  vs  `docker exec C true` (CLI)
 *  open:   opening an idle (paused) student's workspace            vs  `docker run -d` (CLI)
 *  memory: per idle workspace (cgroup + its containerd shim + engine growth), against the goal
 *
 * Run with `npm run bench` (images must be built: ./outpost images build).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, readdirSync } from 'node:fs';
import { startTestSystem, addStudents } from '../test/support.ts';

const run = promisify(execFile);
const EXEC_RUNS = 100;
const OPEN_RUNS = 15;
const IDLE_WORKSPACES = 10;

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const p90 = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length * 0.9)]!; };
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function pidsOf(pattern: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (pattern.test(cmd)) pids.push(Number(entry));
    } catch { /* exited */ }
  }
  return pids;
}
function kib(pid: number, field: 'Pss' | 'Rss'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}
const engineKiB = () => [...pidsOf(/^dockerd /), ...pidsOf(/^containerd /)].reduce((sum, pid) => sum + kib(pid, 'Rss'), 0);

function cgroupBytes(containerId: string): { usage: number; rss: number } {
  for (const base of [`/sys/fs/cgroup/memory/docker/${containerId}`, `/sys/fs/cgroup/system.slice/docker-${containerId}.scope`, `/sys/fs/cgroup/docker/${containerId}`]) {
    try {
      const usage = Number(readFileSync(`${base}/memory.usage_in_bytes`, 'utf8').trim());
      const stat = readFileSync(`${base}/memory.stat`, 'utf8');
      const rss = Number(/^total_rss (\d+)/m.exec(stat)?.[1] ?? 0);
      return { usage, rss };
    } catch {
      try {
        return { usage: Number(readFileSync(`${base}/memory.current`, 'utf8').trim()), rss: Number(/^anon (\d+)/m.exec(readFileSync(`${base}/memory.stat`, 'utf8'))?.[1] ?? 0) };
      } catch { /* try the next layout */ }
    }
  }
  return { usage: NaN, rss: NaN };
}

async function main(): Promise<void> {
  const t = await startTestSystem({ sandbox: { maxWarm: 1000 } });
  const ws = t.system.sandbox.workspaces;
  await addStudents(t.system, ['bench', ...Array.from({ length: IDLE_WORKSPACES }, (_, i) => `idle${i}`)]);
  const image = t.system.sandbox.image;
  try {
    // exec: warm both paths first.
    await ws.exec('bench', { argv: ['true'] });
    const container = ws.containerName('bench');
    for (let i = 0; i < 5; i++) await run('docker', ['exec', container, 'true']);
    const engineExec: number[] = [];
    const cliExec: number[] = [];
    for (let i = 0; i < EXEC_RUNS; i++) {
      engineExec.push(await time(() => ws.exec('bench', { argv: ['true'] })));
      cliExec.push(await time(() => run('docker', ['exec', container, 'true'])));
    }

    // open: an idle workspace (paused by the idle sweep) vs a cold `docker run -d`.
    const openTimes: number[] = [];
    const openAndRun: number[] = [];
    const runTimes: number[] = [];
    for (let i = 0; i < OPEN_RUNS; i++) {
      await ws.sweepIdle(Date.now() + t.config.sandbox.workspace.idlePauseSeconds * 1000 + 1000);
      openTimes.push(await time(() => ws.open('bench')));
      await ws.sweepIdle(Date.now() + t.config.sandbox.workspace.idlePauseSeconds * 1000 + 1000);
      openAndRun.push(await time(() => ws.exec('bench', { argv: ['true'] })));
      const name = `outpost-${t.config.instance}-bench-run-${i}`;
      runTimes.push(await time(() => run('docker', ['run', '-d', '--name', name, '--label', `outpost.instance=${t.config.instance}`, '--network', 'none', image, 'sleep', '600'])));
      await run('docker', ['rm', '-f', name]);
    }

    // memory: N idle (paused) workspaces.
    const engineBefore = engineKiB();
    const owners = Array.from({ length: IDLE_WORKSPACES }, (_, i) => `idle${i}`);
    for (const owner of owners) await ws.exec(owner, { argv: ['true'] });
    await ws.sweepIdle(Date.now() + t.config.sandbox.workspace.idlePauseSeconds * 1000 + 1000);
    await new Promise((r) => setTimeout(r, 1000));
    const engineAfter = engineKiB();
    const perWorkspace: { cgroupMiB: number; cgroupRssMiB: number; shimPssMiB: number }[] = [];
    for (const owner of owners) {
      const info = await t.system.docker.getContainer(ws.containerName(owner)).inspect();
      const cg = cgroupBytes(info.Id);
      const shim = pidsOf(new RegExp(`containerd-shim.* -id ${info.Id}`));
      const shimPss = shim.reduce((sum, pid) => sum + kib(pid, 'Pss'), 0);
      perWorkspace.push({ cgroupMiB: cg.usage / 2 ** 20, cgroupRssMiB: cg.rss / 2 ** 20, shimPssMiB: shimPss / 1024 });
    }
    const engineGrowthMiB = Math.max(0, engineAfter - engineBefore) / 1024 / IDLE_WORKSPACES;
    const avg = (f: (x: (typeof perWorkspace)[number]) => number) => perWorkspace.reduce((s, x) => s + f(x), 0) / perWorkspace.length;
    const memoryPerIdle = avg((x) => x.cgroupMiB) + avg((x) => x.shimPssMiB) + engineGrowthMiB;

    const report = {
      machine: { cores: (await import('node:os')).cpus().length, engine: (await t.system.docker.version()).Version },
      exec: {
        runs: EXEC_RUNS,
        engine_p50_ms: round(median(engineExec)), engine_p90_ms: round(p90(engineExec)),
        baseline_docker_exec_cli_p50_ms: round(median(cliExec)), baseline_p90_ms: round(p90(cliExec)),
        ratio: round(median(engineExec) / median(cliExec), 3), goal: '<= 0.5',
      },
      open_idle_workspace: {
        runs: OPEN_RUNS,
        open_p50_ms: round(median(openTimes)), open_then_exec_p50_ms: round(median(openAndRun)),
        baseline_docker_run_d_cli_p50_ms: round(median(runTimes)),
        ratio: round(median(openTimes) / median(runTimes), 3),
        ratio_open_then_exec: round(median(openAndRun) / median(runTimes), 3), goal: '<= 0.3',
      },
      memory_per_idle_workspace: {
        workspaces: IDLE_WORKSPACES, state: 'paused',
        cgroup_usage_mib: round(avg((x) => x.cgroupMiB)), cgroup_rss_mib: round(avg((x) => x.cgroupRssMiB)),
        shim_pss_mib: round(avg((x) => x.shimPssMiB)), engine_growth_mib: round(engineGrowthMiB),
        total_mib: round(memoryPerIdle), goal_mib: 10, ratio_to_goal: round(memoryPerIdle / 10, 3),
      },
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await t.cleanup();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
