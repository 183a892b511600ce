/**
 * Container entrypoint of search.outpost: `node main.js --config /etc/outpost/search.json`.
 * The config file (bind-mounted) holds `{ dbPath, listen: { host, port }, log?: { level } }`; the index
 * sits on a read-only mount and is reopened whenever the importer replaces it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { z } from 'zod';
import { OutpostError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { createSearchHandler } from './handler.ts';

const configSchema = z.object({
  dbPath: z.string().min(1),
  listen: z.object({ host: z.string().min(1).default('0.0.0.0'), port: z.number().int().min(0).max(65535).default(8080) }).default({ host: '0.0.0.0', port: 8080 }),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
});

function readConfig(argv: string[]): z.infer<typeof configSchema> {
  const at = argv.indexOf('--config');
  const file = at === -1 ? undefined : argv[at + 1];
  if (file === undefined) throw new OutpostError('CONFIG_INVALID', 'The search service needs --config FILE (a JSON file with dbPath and listen).');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new OutpostError('CONFIG_INVALID', `Cannot read the search config ${file}: ${(error as Error).message}. Check the mount and the JSON.`, { cause: error });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OutpostError('CONFIG_INVALID', `The search config ${file} is invalid at ${issue.path.join('.') || 'the top'}: ${issue.message}.`);
  }
  return parsed.data;
}

function main(): void {
  const config = readConfig(process.argv.slice(2));
  const log = createLogger({ level: config.log.level }).child({ service: 'search' });
  const handler = createSearchHandler({ dbPath: config.dbPath, log });
  const server = createServer(handler);
  server.listen(config.listen.port, config.listen.host, () => log.info({ listen: server.address() }, 'search service listening'));
  const stop = () =>
    server.close(() => {
      handler.close();
      process.exit(0);
    });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

try {
  main();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
