/**
 * Gateway benchmark: throughput of one mirrored page (~40 KB of HTML) over plain HTTP on loopback,
 * measured with wrk, against nginx serving the same directory in the same run. Both log every
 * request to a file. The baseline is nginx with `worker_processes 1`, because the gateway is one
 * Node process on one core. For information only: nginx with `worker_processes auto`, and a bare
 * Node http server answering the same bytes from memory (the ceiling for any Node gateway).
 * The three servers take turns for ROUNDS rounds and the median round is reported, so load from
 * elsewhere on the machine affects all of them alike. Not a test: nothing here asserts a time.
 *
 * Needs `wrk` and `nginx` (Debian: apt-get install -y wrk nginx-light).
 * Run with `npx tsx bench/gateway.bench.ts`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../core/log.ts';
import { createGateway } from '../fake-internet/gateway/server.ts';

const run = promisify(execFile);
const HOST = 'docs.python.org';
const URL_PATH = '/3/library/json.html';
const DURATION_S = 10;
const WARMUP_S = 2;
const CONNECTIONS = 50;
const THREADS = 1;
// The servers are measured in turns, several times, so a noisy neighbour on the machine hits both.
const ROUNDS = 3;

interface WrkResult {
  requestsPerSecond: number;
  latencyAvgMs: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  transferMBps: number;
  errors: number;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(m[1]) * scale;
}

async function wrk(port: number, seconds: number): Promise<WrkResult> {
  const { stdout } = await run('wrk', [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `Host: ${HOST}`, `http://127.0.0.1:${port}${URL_PATH}`], { timeout: (seconds + 30) * 1000 });
  const field = (re: RegExp) => re.exec(stdout)?.[1] ?? 'NaN';
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const transfer = /Transfer\/sec:\s+([\d.]+)(KB|MB|GB)/.exec(stdout);
  return {
    requestsPerSecond: round(Number(field(/Requests\/sec:\s+([\d.]+)/))),
    latencyAvgMs: round(toMs(field(/Latency\s+(\S+)/)), 3),
    latencyP50Ms: round(toMs(field(/50%\s+(\S+)/)), 3),
    latencyP99Ms: round(toMs(field(/99%\s+(\S+)/)), 3),
    transferMBps: transfer === null ? NaN : round(Number(transfer[1]) * { KB: 1 / 1024, MB: 1, GB: 1024 }[transfer[2] as 'KB' | 'MB' | 'GB']),
    errors: Number(field(/Non-2xx or 3xx responses: (\d+)/).replace('NaN', '0')) + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${port} within 10 s`);
}

async function startNginx(dir: string, www: string, workers: '1' | 'auto'): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const confDir = path.join(dir, `nginx-${workers}`);
  await mkdir(confDir, { recursive: true });
  const conf = path.join(confDir, 'nginx.conf');
  await writeFile(
    conf,
    `worker_processes ${workers};
pid ${confDir}/nginx.pid;
error_log ${confDir}/error.log warn;
events { worker_connections 4096; }
http {
  types { text/html html; }
  default_type application/octet-stream;
  access_log ${confDir}/access.log;
  client_body_temp_path ${confDir}/body;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    server_name ${HOST};
    root ${www};
  }
}
`,
  );
  const child = spawn('nginx', ['-e', `${confDir}/error.log`, '-p', confDir, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitForPort(port, child);
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGQUIT');
      }),
  };
}

function page(): string {
  const para = '<p>The <code>json</code> module exposes an API familiar to users of the standard library <code>marshal</code> and <code>pickle</code> modules. Encoding basic Python object hierarchies is shown below.</p>\n';
  return `<!doctype html>\n<html><head><title>json — JSON encoder and decoder</title></head><body>\n${para.repeat(190)}</body></html>\n`;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-bench-gateway-'));
  // nginx workers run as nobody: everything they serve must be world-readable.
  await chmod(dir, 0o755);
  const www = path.join(dir, 'www');
  await mkdir(path.join(www, '3', 'library'), { recursive: true, mode: 0o755 });
  const html = page();
  await writeFile(path.join(www, '3', 'library', 'json.html'), html, { mode: 0o644 });

  const gateway = createGateway({
    log: silentLogger(),
    config: {
      http: { host: '127.0.0.1', port: 0 },
      https: { host: '127.0.0.1', port: 0 },
      certsDir: path.join(dir, 'certs'),
      requestLog: path.join(dir, 'gateway', 'requests.jsonl'),
      sites: [{ host: HOST, pathPrefix: '/3/', kind: 'static', root: path.join(www, '3'), name: 'python-docs' }],
    },
  });
  const { httpPort } = await gateway.start();
  const body = Buffer.from(html);
  const bare = http.createServer((_req, res) => {
    res.writeHead(200, ['content-type', 'text/html; charset=utf-8', 'content-length', String(body.length)]);
    res.end(body);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const barePort = (bare.address() as net.AddressInfo).port;
  const nginx1 = await startNginx(dir, www, '1');
  const nginxAuto = await startNginx(dir, www, 'auto');
  try {
    for (const port of [httpPort, nginx1.port, nginxAuto.port, barePort]) await wrk(port, WARMUP_S);
    const rounds: Array<{ ours: WrkResult; baseline: WrkResult; auto: WrkResult; bare: WrkResult }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push({ ours: await wrk(httpPort, DURATION_S), baseline: await wrk(nginx1.port, DURATION_S), auto: await wrk(nginxAuto.port, DURATION_S), bare: await wrk(barePort, DURATION_S) });
    }
    const ratioOf = (r: (typeof rounds)[number]) => r.ours.requestsPerSecond / r.baseline.requestsPerSecond;
    const median = [...rounds].sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor(rounds.length / 2)]!;
    console.log(
      JSON.stringify(
        {
          setup: { pageBytes: Buffer.byteLength(html), connections: CONNECTIONS, wrkThreads: THREADS, durationSeconds: DURATION_S, rounds: ROUNDS, cpus: os.cpus().length, requestLogs: 'both log every request to a file' },
          gateway: median.ours,
          baseline: { name: 'nginx worker_processes 1', ...median.baseline },
          ratio: round(ratioOf(median)),
          goal: 0.7,
          info: [
            { name: 'nginx worker_processes auto', ...median.auto, ratio: round(median.ours.requestsPerSecond / median.auto.requestsPerSecond) },
            { name: 'bare Node http server, same bytes from memory', ...median.bare, ratio: round(median.ours.requestsPerSecond / median.bare.requestsPerSecond) },
          ],
          allRounds: rounds.map((r) => ({ gateway: r.ours.requestsPerSecond, nginx1: r.baseline.requestsPerSecond, nginxAuto: r.auto.requestsPerSecond, bareNode: r.bare.requestsPerSecond, ratio: round(ratioOf(r)) })),
        },
        null,
        2,
      ),
    );
  } finally {
    bare.closeAllConnections();
    await Promise.all([nginx1.stop(), nginxAuto.stop(), gateway.close(), new Promise((resolve) => bare.close(resolve))]);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
