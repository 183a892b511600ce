/** How many gateway processes this machine (or container) can keep busy. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** CPUs this process may use: its affinity mask, and the cgroup (v2) CPU quota of a container. At least 1. */
export function availableCpus(): number {
  let cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota !== undefined && quota !== 'max' && period !== undefined && Number(period) > 0) {
      cpus = Math.min(cpus, Math.ceil(Number(quota) / Number(period)));
    }
  } catch {
    // Not cgroup v2, or no limit.
  }
  return Math.max(1, Number.isFinite(cpus) ? cpus : 1);
}
