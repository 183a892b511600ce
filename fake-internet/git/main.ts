/**
 * Container entrypoint of the sealed network's git server: `main.ts --config FILE` (JSON, see
 * `gitSettingsSchema`). Logs JSON to stdout; stops on SIGTERM/SIGINT after the requests in progress
 * (a push cut in half would leave git's quarantine to clean up, not a broken repository, but a
 * student would see an error for nothing).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { OutpostError, asOutpostError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { startGitServer } from './server.ts';

export const gitSettingsSchema = z.object({
  reposDir: z.string().min(1),
  accessFile: z.string().min(1),
  pushLog: z.string().min(1),
  maxPushBytes: z.number().int().min(1024),
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(1).max(65535).default(8080),
  trustedProxies: z.array(z.string()).default([]),
  timeoutSeconds: z.number().int().min(10).default(600),
  maxConcurrent: z.number().int().min(1).max(256).default(8),
  /** Requests one account may have in progress at once, so one student cannot take every git process. */
  maxConcurrentPerUser: z.number().int().min(1).max(256).default(2),
  /** A request body must arrive within this, plus a second per 256 KiB received. */
  bodyTimeoutSeconds: z.number().int().min(5).max(3600).default(30),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});
export type GitSettings = z.input<typeof gitSettingsSchema>;

async function main(): Promise<void> {
  const flag = process.argv.indexOf('--config');
  const file = flag === -1 ? undefined : process.argv[flag + 1];
  if (file === undefined) throw new OutpostError('INPUT_INVALID', 'The git server needs its settings: run it as `main.ts --config FILE` with a JSON file.');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new OutpostError('INPUT_INVALID', `Cannot read the git server settings from ${file}: ${(error as Error).message}. Mount a readable JSON file there.`, { cause: error });
  }
  const parsed = gitSettingsSchema.safeParse(raw);
  if (!parsed.success) throw new OutpostError('INPUT_INVALID', `The git server settings in ${file} are invalid: ${z.prettifyError(parsed.error)}`, { details: { issues: parsed.error.issues } });
  const settings = parsed.data;
  const log = createLogger({ level: settings.logLevel }).child({ component: 'git' });
  const server = await startGitServer({ ...settings, log });
  log.info({ host: settings.host, port: server.port }, 'git server listening');

  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, busy: server.service.busy }, 'git server stopping');
    for (let waited = 0; server.service.busy > 0 && waited < 20_000; waited += 100) await sleep(100);
    await server.close();
    process.exit(0);
  };
  process.on('SIGTERM', (s) => void stop(s));
  process.on('SIGINT', (s) => void stop(s));
}

main().catch((error: unknown) => {
  const failure = asOutpostError(error);
  process.stderr.write(`${JSON.stringify({ level: 'fatal', component: 'git', ...failure.toJSON() })}\n`);
  process.exit(1);
});
