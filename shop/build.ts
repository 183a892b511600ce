/**
 * The build in an outbound package ("a build if configured"): the project's build command runs on
 * exactly the delivered commit in a fresh sandbox container (sealed network, so `npm ci` uses the
 * inside mirror), and its output folder is packed as a .tar.gz that staff review with the bundle.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OutpostError } from '../core/errors.ts';
import { exportCommit } from '../fake-internet/git/repos.ts';
import { JOB_DIR, type OneShotRunner } from '../sandbox/oneshot.ts';
import { makeTreeReadable } from '../core/files.ts';

export interface BuildResult { size: number; sha256: string; log: string }

export interface ShopBuilder {
  build(input: { repoDir: string; commit: string; command: string; output: string; outFile: string; maxBytes: number; timeoutSeconds: number }): Promise<BuildResult>;
}

/** A folder inside the project, such as `dist` or `build/site`. */
export function validBuildOutput(output: string): boolean {
  return /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(output) && !output.split('/').some((p) => p === '..' || p === '.');
}


export function createShopBuilder(deps: { oneShot: OneShotRunner }): ShopBuilder {
  return {
    async build({ repoDir, commit, command, output, outFile, maxBytes, timeoutSeconds }) {
      if (!validBuildOutput(output)) throw new OutpostError('INPUT_INVALID', `The build output "${output.slice(0, 100)}" must be a folder inside the project, such as dist.`);
      const warm = await deps.oneShot.take();
      try {
        await exportCommit(repoDir, commit, path.join(warm.slot, 'src'));
        await makeTreeReadable(path.join(warm.slot, 'src'));
        // The build's own output goes to a log; stdout carries only the packed result.
        const script = `set -e
mkdir -p /workspace/src && cp -r ${JOB_DIR}/src/. /workspace/src/ && cd /workspace/src
if ! ( ${command} ) > /tmp/build.log 2>&1; then tail -c 4000 /tmp/build.log >&2; exit 10; fi
if [ ! -d ${JSON.stringify(output)} ]; then tail -c 2000 /tmp/build.log >&2; echo "the build made no folder ${output}" >&2; exit 11; fi
tail -c 4000 /tmp/build.log >&2
tar -czf - -C ${JSON.stringify(output)} .`;
        const result = await warm.exec({ argv: ['bash', '-c', script], cwd: '/workspace', timeoutSeconds, outputCapBytes: maxBytes + 1 });
        const log = result.stderr.toString('utf8');
        if (result.timedOut) throw new OutpostError('SHOP_PACKAGE_FAILED', `The build did not finish within ${timeoutSeconds} s. Its last output:\n${log.slice(-1500)}`);
        if (result.exitCode !== 0) throw new OutpostError('SHOP_PACKAGE_FAILED', `The build failed (exit ${result.exitCode}). Its last output:\n${log.slice(-1500)}`);
        if (result.truncated.stdout || result.stdout.length > maxBytes) throw new OutpostError('SHOP_PACKAGE_FAILED', `The build's output is larger than the ${Math.round(maxBytes / 1024 / 1024)} MiB limit.`);
        await mkdir(path.dirname(outFile), { recursive: true });
        await writeFile(outFile, result.stdout, { mode: 0o600 });
        return { size: result.stdout.length, sha256: createHash('sha256').update(result.stdout).digest('hex'), log };
      } finally {
        void warm.dispose();
      }
    },
  };
}
