/**
 * Gateway benchmark: throughput of one mirrored page (~40 KB of HTML) over plain HTTP on loopback,
 * measured with wrk, against nginx serving the same directory in the same run. Both log every
 * request to a file. The gateway runs as in production: `main.ts --config FILE`, which starts as many
 * worker processes as there are CPUs available (cpus.ts); nginx gets as many (`worker_processes
 * auto`). That is the headline ratio. Also measured: both with one process (`workers: 1`, nginx
 * `worker_processes 1`), and, for information, a bare Node http server answering the same bytes
 * from memory (the ceiling for one Node process).
 * The servers take turns for ROUNDS rounds and the median round is reported, so load from
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
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { availableCpus } from '../fake-internet/gateway/cpus.ts';

const MAIN = fileURLToPath(new URL('../fake-internet/gateway/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../', import.meta.url));

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

async function waitForPort(port: number, child: ChildProcess, what = 'nginx'): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on ${port} within 10 s`);
}

async function startNginx(dir: string, www: string, workers: string): Promise<{ port: number; stop(): Promise<void> }> {
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

/** The gateway as its container runs it: main.ts as its own process (a cluster primary when workers > 1). */
async function startGateway(dir: string, www: string, workers: number): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const confDir = path.join(dir, `gateway-${workers}`);
  await mkdir(confDir, { recursive: true });
  const conf = path.join(confDir, 'gateway.json');
  await writeFile(
    conf,
    JSON.stringify({
      http: { host: '127.0.0.1', port },
      https: { host: '127.0.0.1', port: 0 },
      certsDir: path.join(confDir, 'certs'),
      requestLog: path.join(confDir, 'requests.jsonl'),
      logLevel: 'warn',
      workers,
      sites: [{ host: HOST, pathPrefix: '/3/', kind: 'static', root: path.join(www, '3'), name: 'python-docs' }],
    }),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', conf], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, 'the gateway');
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
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

  const workers = availableCpus();
  const nginxAutoWorkers = workers === os.cpus().length ? 'auto' : String(workers);
  const gatewayN = await startGateway(dir, www, workers);
  const gateway1 = await startGateway(dir, www, 1);
  const body = Buffer.from(html);
  const bare = http.createServer((_req, res) => {
    res.writeHead(200, ['content-type', 'text/html; charset=utf-8', 'content-length', String(body.length)]);
    res.end(body);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const barePort = (bare.address() as net.AddressInfo).port;
  const nginx1 = await startNginx(dir, www, '1');
  const nginxAuto = await startNginx(dir, www, nginxAutoWorkers);
  try {
    for (const port of [gatewayN.port, nginxAuto.port, gateway1.port, nginx1.port, barePort]) await wrk(port, WARMUP_S);
    type Round = { oursN: WrkResult; auto: WrkResult; ours1: WrkResult; baseline1: WrkResult; bare: WrkResult };
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push({
        oursN: await wrk(gatewayN.port, DURATION_S),
        auto: await wrk(nginxAuto.port, DURATION_S),
        ours1: await wrk(gateway1.port, DURATION_S),
        baseline1: await wrk(nginx1.port, DURATION_S),
        bare: await wrk(barePort, DURATION_S),
      });
    }
    const ratioN = (r: Round) => r.oursN.requestsPerSecond / r.auto.requestsPerSecond;
    const ratio1 = (r: Round) => r.ours1.requestsPerSecond / r.baseline1.requestsPerSecond;
    const medianBy = (f: (r: Round) => number) => [...rounds].sort((a, b) => f(a) - f(b))[Math.floor(rounds.length / 2)]!;
    const medN = medianBy(ratioN);
    const med1 = medianBy(ratio1);
    console.log(
      JSON.stringify(
        {
          setup: { pageBytes: Buffer.byteLength(html), connections: CONNECTIONS, wrkThreads: THREADS, durationSeconds: DURATION_S, rounds: ROUNDS, cpus: os.cpus().length, gatewayWorkers: workers, requestLogs: 'both log every request to a file' },
          production: {
            gateway: { name: `gateway main.ts, ${workers} worker process(es)`, ...medN.oursN },
            baseline: { name: `nginx worker_processes ${nginxAutoWorkers}`, ...medN.auto },
            ratio: round(ratioN(medN)),
          },
          singleProcess: {
            gateway: { name: 'gateway main.ts, workers: 1', ...med1.ours1 },
            baseline: { name: 'nginx worker_processes 1', ...med1.baseline1 },
            ratio: round(ratio1(med1)),
          },
          goal: 0.7,
          info: [{ name: 'bare Node http server, same bytes from memory (one process)', ...med1.bare, ratioOfGateway1: round(med1.ours1.requestsPerSecond / med1.bare.requestsPerSecond) }],
          allRounds: rounds.map((r) => ({
            gatewayN: r.oursN.requestsPerSecond,
            nginxAuto: r.auto.requestsPerSecond,
            ratioN: round(ratioN(r)),
            gateway1: r.ours1.requestsPerSecond,
            nginx1: r.baseline1.requestsPerSecond,
            ratio1: round(ratio1(r)),
            bareNode: r.bare.requestsPerSecond,
          })),
        },
        null,
        2,
      ),
    );
  } finally {
    bare.closeAllConnections();
    await Promise.all([nginx1.stop(), nginxAuto.stop(), gatewayN.stop(), gateway1.stop(), new Promise((resolve) => bare.close(resolve))]);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
