/**
 * Git benchmark: a full clone of a 2,000-commit repository through Outpost (the stock git client →
 * the gateway over HTTPS with the local CA → the git server → `git upload-pack`) against a clone of
 * the same repository over plain `git http-backend` (run as CGI by a minimal loopback web server,
 * no TLS), in the same run. Goal: Outpost ≤ 1.3× the plain time. Also reported, for information,
 * the git server alone over plain HTTP (no gateway, no TLS).
 *
 * The gateway and git server run in this process on loopback (the same code as their containers);
 * the clones take turns for ROUNDS rounds and the median of each is reported. Not a test: nothing
 * here asserts a time. Run with `npx tsx bench/git.bench.ts`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { silentLogger } from '../core/log.ts';
import { hashToken } from '../fake-internet/git/access.ts';
import { startGitServer } from '../fake-internet/git/server.ts';
import { createGateway } from '../fake-internet/gateway/server.ts';
import { createCertificateAuthority, writeGatewayCertificates } from '../fake-internet/pki/ca.ts';

const run = promisify(execFile);
const COMMITS = 2000;
const ROUNDS = 9;
const TOKEN = 'opt_benchmark-token-not-a-secret';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** 2,000 commits of a small project: each edits one of 200 files, as a class's history would. */
async function makeRepo(dir: string): Promise<void> {
  await run('git', ['init', '-q', '--bare', '--initial-branch=main', dir]);
  const lines: string[] = [];
  const files = new Map<string, string>();
  for (let i = 1; i <= COMMITS; i++) {
    const file = `src/module-${i % 200}.js`;
    const next = `${files.get(file) ?? ''}export function step${i}(x) {\n  return x * ${i} + ${i % 7};\n}\n`;
    files.set(file, next);
    const message = `Step ${i}: add step${i} to ${file}\n`;
    lines.push('commit refs/heads/main', `committer Student <student@git.outpost> ${1_700_000_000 + i * 60} +0000`, `data ${Buffer.byteLength(message)}`, message);
    lines.push(`M 100644 inline ${file}`, `data ${Buffer.byteLength(next)}`, next);
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('git', ['fast-import', '--quiet'], { cwd: dir, env: { ...process.env, GIT_DIR: dir }, stdio: ['pipe', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`))));
    child.stdin.end(lines.join('\n'));
  });
  await run('git', ['--git-dir', dir, 'gc', '-q']);
}

/** `git http-backend` as CGI: what a plain Apache or nginx+fcgiwrap setup does. */
function startHttpBackend(projectRoot: string): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH, GIT_PROJECT_ROOT: projectRoot, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: decodeURIComponent(url.pathname), QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method, CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_ADDR: '127.0.0.1', REMOTE_USER: 'bench',
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) { res.write(chunk); return; }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    child.stdout.on('end', () => res.end());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() })));
}

async function timeClone(url: string, dest: string, extra: string[] = []): Promise<number> {
  await rm(dest, { recursive: true, force: true });
  const started = performance.now();
  await run('git', [...extra, 'clone', '-q', '--bare', url, dest], { env: { PATH: process.env.PATH, HOME: os.tmpdir(), GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 1 << 26 });
  const ms = performance.now() - started;
  const { stdout } = await run('git', ['--git-dir', dest, 'rev-list', '--count', 'main']);
  if (Number(stdout.trim()) !== COMMITS) throw new Error(`clone of ${url} has ${stdout.trim()} commits, not ${COMMITS}`);
  return ms;
}

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'outpost-git-bench-'));
  try {
    const repos = path.join(root, 'repos');
    const repoDir = path.join(repos, 'ana', 'history.git');
    await mkdir(path.dirname(repoDir), { recursive: true });
    await makeRepo(repoDir);
    const { stdout: size } = await run('du', ['-sk', repoDir]);
    await writeFile(path.join(root, 'access.json'), JSON.stringify({ version: 1, tokens: { [hashToken(TOKEN)]: 'ana' }, readAll: [], repos: { 'ana/history': { read: [], write: ['ana'] } } }));
    const git = await startGitServer({ host: '127.0.0.1', port: 0, reposDir: repos, accessFile: path.join(root, 'access.json'), pushLog: path.join(root, 'push.jsonl'), maxPushBytes: 1 << 30, trustedProxies: ['127.0.0.1'], log: silentLogger() });
    const ca = await createCertificateAuthority({ dir: path.join(root, 'pki'), log: silentLogger() });
    const certs = path.join(root, 'certs');
    await mkdir(certs);
    await writeGatewayCertificates(ca, ['git.outpost'], certs);
    await writeFile(path.join(root, 'ca.crt'), ca.caCertPem());
    const gateway = createGateway({
      config: { http: { host: '127.0.0.1', port: 0 }, https: { host: '127.0.0.1', port: 0 }, certsDir: certs, requestLog: path.join(root, 'gateway.jsonl'), sites: [{ kind: 'proxy', name: 'git', host: 'git.outpost', upstream: `http://127.0.0.1:${git.port}` }] },
      log: silentLogger(),
    });
    const ports = await gateway.start();
    const backend = await startHttpBackend(repos);

    const samples = { outpost: [] as number[], gatewayHttp: [] as number[], gitServerOnly: [] as number[], httpBackend: [] as number[] };
    const outpost = () => timeClone(`https://ana:${TOKEN}@git.outpost:${ports.httpsPort}/ana/history.git`, path.join(root, 'c-outpost'), ['-c', `http.curloptResolve=git.outpost:${ports.httpsPort}:127.0.0.1`, '-c', `http.sslCAInfo=${path.join(root, 'ca.crt')}`]);
    const viaHttp = () => timeClone(`http://ana:${TOKEN}@git.outpost:${ports.httpPort}/ana/history.git`, path.join(root, 'c-http'), ['-c', `http.curloptResolve=git.outpost:${ports.httpPort}:127.0.0.1`]);
    const direct = () => timeClone(`http://ana:${TOKEN}@127.0.0.1:${git.port}/ana/history.git`, path.join(root, 'c-direct'));
    const plain = () => timeClone(`http://127.0.0.1:${backend.port}/ana/history.git`, path.join(root, 'c-plain'));
    await plain(); await outpost(); // warm the page cache and both servers
    for (let i = 0; i < ROUNDS; i++) {
      samples.httpBackend.push(await plain());
      samples.outpost.push(await outpost());
      samples.gatewayHttp.push(await viaHttp());
      samples.gitServerOnly.push(await direct());
    }
    const result = {
      benchmark: 'git clone of a 2,000-commit repository',
      commits: COMMITS,
      repoKiB: Number(size.split('\t')[0]),
      rounds: ROUNDS,
      medianMs: { outpostHttpsThroughGateway: round(median(samples.outpost), 1), outpostHttpThroughGateway: round(median(samples.gatewayHttp), 1), gitServerOnlyHttp: round(median(samples.gitServerOnly), 1), plainHttpBackend: round(median(samples.httpBackend), 1) },
      samplesMs: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => round(x, 1))])),
      ratio: { outpostVsPlain: round(median(samples.outpost) / median(samples.httpBackend)), gitServerOnlyVsPlain: round(median(samples.gitServerOnly) / median(samples.httpBackend)) },
      goal: { outpostVsPlainAtMost: 1.3, met: median(samples.outpost) / median(samples.httpBackend) <= 1.3 },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    backend.close();
    await gateway.close();
    await git.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
