/**
 * Builds the in-workspace agent (agent.c) into a static binary that the image builder copies into
 * the workspace image. Static, because images vary and must not need a matching libc.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OutpostError } from '../../core/errors.ts';

/** Answered by the agent to a ping; bump when the wire protocol changes incompatibly. */
export const AGENT_PROTOCOL_VERSION = '1';

const SOURCE_PATH = fileURLToPath(new URL('./agent.c', import.meta.url));
const BINARY_NAME = 'outpost-agent';
// -s: the symbols are of no use inside a workspace and would double the binary.
const GCC_FLAGS = ['-static', '-O2', '-Wall', '-Wextra', '-s', `-DOUTPOST_PROTOCOL_VERSION="${AGENT_PROTOCOL_VERSION}"`];
const INSTALL_HINT = 'Install a C compiler and the static C library (e.g. `apt-get install gcc libc6-dev`) and retry.';

/** sha256 (hex) of agent.c as it is on disk now. */
export function agentSourceHash(): string {
  return sha256(readFileSync(SOURCE_PATH));
}

interface Stamp {
  sourceHash: string;
  flags: string[];
  binarySha256: string;
}

/**
 * Compiles agent.c into `outDir/outpost-agent`, unless a binary built from the same source and
 * flags is already there. Returns the binary's path and its sha256.
 */
export async function buildAgent(options: { outDir: string }): Promise<{ path: string; sha256: string }> {
  const outDir = path.resolve(options.outDir);
  const binary = path.join(outDir, BINARY_NAME);
  const stampPath = `${binary}.stamp.json`;
  const sourceHash = agentSourceHash();

  const existing = await readStamp(stampPath);
  if (existing && existing.sourceHash === sourceHash && sameFlags(existing.flags)) {
    // The binary's own hash guards against a half-written or hand-edited file.
    const onDisk = await readFile(binary).then(sha256, () => undefined);
    if (onDisk === existing.binarySha256) return { path: binary, sha256: onDisk };
  }

  try {
    await mkdir(outDir, { recursive: true });
  } catch (error) {
    throw new OutpostError('IMAGE_BUILD_FAILED', `cannot create the agent build directory ${outDir}: ${(error as Error).message}`, { cause: error });
  }
  // Build under a unique name and rename, so concurrent builds never see a partial binary.
  const tmp = path.join(outDir, `.${BINARY_NAME}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await runGcc([...GCC_FLAGS, '-o', tmp, SOURCE_PATH]);
    await chmod(tmp, 0o755);
    const binarySha256 = sha256(await readFile(tmp));
    await rename(tmp, binary);
    const stamp: Stamp = { sourceHash, flags: GCC_FLAGS, binarySha256 };
    const stampTmp = `${tmp}.stamp`;
    await writeFile(stampTmp, `${JSON.stringify(stamp, null, 2)}\n`);
    await rename(stampTmp, stampPath);
    return { path: binary, sha256: binarySha256 };
  } catch (error) {
    await rm(tmp, { force: true });
    if (error instanceof OutpostError) throw error;
    throw new OutpostError('IMAGE_BUILD_FAILED', `cannot install the workspace agent binary at ${binary}: ${(error as Error).message}`, { cause: error });
  }
}

function runGcc(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('gcc', args, { maxBuffer: 4 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const code = (error as NodeJS.ErrnoException).code;
      const what = code === 'ENOENT'
        ? 'gcc was not found on PATH'
        : `gcc failed (${error.message.split('\n')[0]}):\n${String(stderr).trim()}`;
      reject(new OutpostError('IMAGE_BUILD_FAILED', `cannot compile the workspace agent ${SOURCE_PATH}: ${what}\n${INSTALL_HINT}`, {
        details: { source: SOURCE_PATH, args },
        cause: error,
      }));
    });
  });
}

async function readStamp(file: string): Promise<Stamp | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<Stamp>;
    if (typeof parsed.sourceHash !== 'string' || typeof parsed.binarySha256 !== 'string' || !Array.isArray(parsed.flags)) return undefined;
    return parsed as Stamp;
  } catch {
    return undefined;
  }
}

function sameFlags(flags: string[]): boolean {
  return flags.length === GCC_FLAGS.length && flags.every((flag, i) => flag === GCC_FLAGS[i]);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
