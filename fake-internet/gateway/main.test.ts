import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface LogLine {
  msg?: string;
  reason?: string;
  httpPort?: number;
  [key: string]: unknown;
}

function get(port: number, host: string, urlPath: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

/** Polls until `check` holds: the gateway reacts to file changes asynchronously. Bounded in count. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

describe('gateway container entrypoint (main.ts as a real process)', () => {
  let root: string;
  let child: ChildProcess;
  let lines: LogLine[];
  let port: number;
  let configFile: string;
  let baseConfig: Record<string, unknown>;

  async function replace(file: string, value: unknown): Promise<void> {
    // As the control plane does it: a new file renamed over the old one.
    await writeFile(`${file}.new`, JSON.stringify(value));
    await rename(`${file}.new`, file);
  }

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-test-gateway-main-'));
    await mkdir(path.join(root, 'site'), { recursive: true });
    await writeFile(path.join(root, 'site', 'index.html'), 'hello from the mirror');
    await mkdir(path.join(root, 'etc'));
    await mkdir(path.join(root, 'identity'));
    configFile = path.join(root, 'etc', 'gateway.json');
    baseConfig = {
      http: { host: '127.0.0.1', port: 0 },
      https: { host: '127.0.0.1', port: 0 },
      certsDir: path.join(root, 'certs'),
      requestLog: path.join(root, 'log', 'requests.jsonl'),
      identityFile: path.join(root, 'identity', 'clients.json'),
      sites: [{ host: 'docs.python.org', kind: 'static', root: path.join(root, 'site'), name: 'python-docs' }],
    };
    await replace(path.join(root, 'identity', 'clients.json'), { clients: {}, cohorts: {} });
    await replace(configFile, baseConfig);

    lines = [];
    child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', configFile], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const part of parts) if (part.trim() !== '') lines.push(JSON.parse(part) as LogLine);
    });
    await eventually(async () => lines.some((l) => l.msg === 'gateway listening'), 'the gateway listens');
    port = lines.find((l) => l.msg === 'gateway listening')?.httpPort ?? 0;
  });

  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('serves the sites of the config file', async () => {
    expect(await get(port, 'docs.python.org', '/')).to.deep.equal({ status: 200, text: 'hello from the mirror' });
  });

  it('reloads when the config file is replaced', async () => {
    await replace(configFile, { ...baseConfig, sites: [...(baseConfig.sites as object[]), { host: 'nodejs.org', kind: 'static', root: path.join(root, 'site'), name: 'node' }] });
    await eventually(async () => (await get(port, 'nodejs.org', '/')).status === 200, 'nodejs.org is served');
  });

  it('reloads when the identity file is replaced', async () => {
    await replace(path.join(root, 'identity', 'clients.json'), {
      clients: { '127.0.0.1': { owner: 'alice', cohort: 'c1' } },
      cohorts: { c1: { allowedSites: ['python-docs'] } },
    });
    await eventually(async () => (await get(port, 'nodejs.org', '/')).status === 403, 'nodejs.org is blocked for alice');
    expect((await get(port, 'docs.python.org', '/')).status).to.equal(200);
  });

  it('keeps serving when a new config is invalid, and reloads on SIGHUP', async () => {
    await writeFile(configFile, '{ not json');
    await eventually(async () => lines.some((l) => l.msg?.startsWith('reload failed') === true), 'the failed reload is logged');
    expect((await get(port, 'docs.python.org', '/')).status).to.equal(200);
    await replace(configFile, baseConfig);
    const before = lines.length;
    child.kill('SIGHUP');
    await eventually(async () => lines.slice(before).some((l) => l.msg === 'reloaded' && l.reason === 'SIGHUP'), 'SIGHUP reloads');
    expect((await get(port, 'nodejs.org', '/')).status).to.equal(404);
  });

  it('exits 0 on SIGTERM after closing its listeners', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    const refused = await get(port, 'docs.python.org', '/').then(() => 'answered', (e: NodeJS.ErrnoException) => e.code);
    expect(refused).to.equal('ECONNREFUSED');
  });
});
