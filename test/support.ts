/**
 * Test support: a real system (real engine, real images, real disks) in a throwaway data dir with its
 * own instance label, so tests never touch an operator's Outpost or each other's containers.
 * The images come from `./outpost test`, which builds them before mocha starts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../core/config.ts';
import { silentLogger } from '../core/log.ts';
import { openSystem, type System } from '../server/system.ts';
import { LABEL } from '../sandbox/hardening.ts';
import { mountPointsUnder } from '../sandbox/disk.ts';

const run = promisify(execFile);

export const TEST_PREFIX = '/tmp/outpost-test-';

export interface TestSystem {
  system: System;
  config: Config;
  root: string;
  cleanup(): Promise<void>;
}

/** A config for one test file: temp data dir, short socket dir, small limits, unique instance. */
export async function makeTestConfig(overrides: Record<string, unknown> = {}): Promise<{ config: Config; root: string }> {
  const root = await mkdtemp(TEST_PREFIX);
  const instance = `test-${randomBytes(3).toString('hex')}`;
  const base: Record<string, unknown> = {
    instance,
    dataDir: path.join(root, 'data'),
    log: { level: 'silent' },
    http: { port: 0 },
    docker: { provision: false },
    sandbox: {
      runDir: path.join(root, 'r'),
      workspace: { memoryMiB: 256, diskMiB: 64, pids: 128, cpus: 0.5, fsizeMiB: 32 },
      oneShot: { memoryMiB: 256, pids: 64, cpus: 0.5 },
      exec: { defaultTimeoutSeconds: 20 },
    },
  };
  const config = loadConfig({ env: {}, overrides: mergeDeep(base, overrides), cwd: os.tmpdir() });
  return { config, root };
}

export async function startTestSystem(overrides: Record<string, unknown> = {}): Promise<TestSystem> {
  const { config, root } = await makeTestConfig(overrides);
  const system = await openSystem({ config, log: silentLogger(), provisionEngine: false });
  return {
    system,
    config,
    root,
    async cleanup() {
      await system.close().catch(() => undefined);
      await removeInstance(system, config.instance);
      await unmountUnder(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

export async function removeInstance(system: System, instance: string): Promise<void> {
  const containers = await system.docker.listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance}`] } });
  await Promise.all(containers.map((c) => system.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

export async function unmountUnder(root: string): Promise<void> {
  // Deepest first: the nosymfollow view and bind mounts sit on top of the disk mount.
  for (const m of mountPointsUnder(root)) {
    await run('umount', [m]).catch(() => run('umount', ['-l', m]).catch(() => undefined));
  }
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? mergeDeep(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export const text = (b: Buffer) => b.toString('utf8');
