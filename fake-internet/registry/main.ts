/**
 * Container entrypoint of the sealed npm registry: `main.ts --config FILE`, where FILE is JSON:
 * `{ "storageDir", "listen": "0.0.0.0:4873", "publicUrl"?: "https://registry.outpost/", "requestLog" }`.
 * Logs JSON to stdout (its own lines and Verdaccio's) and stops cleanly on SIGTERM or SIGINT.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OutpostError, asOutpostError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { registrySettingsSchema, type RegistrySettings } from './config.ts';
import { startSealedRegistry } from './server.ts';

function readSettings(argv: readonly string[]): RegistrySettings {
  const flag = argv.indexOf('--config');
  const file = flag === -1 ? undefined : argv[flag + 1];
  if (file === undefined) {
    throw new OutpostError('INPUT_INVALID', 'The registry needs its settings: run it as `main.ts --config FILE` with a JSON file.');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new OutpostError('INPUT_INVALID', `Cannot read the registry settings from ${file}: ${(error as Error).message}. Mount a readable JSON file there.`, { cause: error });
  }
  const parsed = registrySettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new OutpostError('INPUT_INVALID', `The registry settings in ${file} are invalid: ${z.prettifyError(parsed.error)}`, { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}

function splitListen(listen: string): { host: string; port: number } {
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(colon + 1)) };
}

async function main(): Promise<void> {
  const settings = readSettings(process.argv.slice(2));
  const log = createLogger({ level: settings.logLevel }).child({ component: 'registry' });
  const { host, port } = splitListen(settings.listen);
  const registry = await startSealedRegistry({
    storageDir: settings.storageDir,
    host,
    port,
    ...(settings.publicUrl === undefined ? {} : { publicUrl: settings.publicUrl }),
    requestLog: settings.requestLog,
    log,
  });
  log.info({ host: registry.host, port: registry.port, publicUrl: settings.publicUrl }, 'registry listening');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'registry stopping');
    registry.close().then(
      // Verdaccio keeps timers of its own; exit rather than wait for them.
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'registry did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  const failure = asOutpostError(error);
  process.stderr.write(`${JSON.stringify({ level: 'fatal', component: 'registry', ...failure.toJSON() })}\n`);
  process.exit(1);
});
