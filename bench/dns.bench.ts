/**
 * DNS benchmark: queries per second with `dnsperf` against our DNS service (main.ts, as the container
 * runs it, query log included) and against dnsmasq serving the same records, both on loopback, with
 * the same query file and the same duration. Prints JSON with both figures and the ratio (goal ≥ 0.5).
 * Not a test: nothing here asserts a time.
 *
 * Needs `dnsperf` and `dnsmasq` (Debian: dnsperf, dnsmasq-base); installs them when run as root on
 * Debian. Run with `npx tsx bench/dns.bench.ts`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseZone } from '../fake-internet/dns/zone.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const SECONDS = 10;
const WARMUP_SECONDS = 2;
const CLIENTS = 4;
const OUTSTANDING = 100;
/** Without EDNS this answer is truncated by both servers; it measures nothing useful. */
const SKIPPED = new Set(['big.outpost']);

async function has(tool: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

async function ensureTools(): Promise<void> {
  if ((await has('dnsperf')) && (await has('dnsmasq'))) return;
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) {
    throw new Error('dnsperf and dnsmasq are missing: install them (Debian: apt-get install -y --no-install-recommends dnsperf dnsmasq-base).');
  }
  // dnsmasq-base carries no system service, so nothing starts listening behind our back.
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'dnsperf', 'dnsmasq-base'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

async function waitForAnswer(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', '+short', 'git.outpost', 'A']);
      if (stdout.trim() !== '') return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`no DNS answer on port ${port} within 15 s`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

interface Figures {
  qps: number;
  avgLatencyMs: number;
  latencyStdDevMs: number;
  sent: number;
  lost: number;
  /** As dnsperf counts them: both servers should say NOERROR to every query. */
  responseCodes: string;
}

async function dnsperf(port: number, queryFile: string, seconds: number): Promise<Figures> {
  const { stdout } = await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(seconds), '-c', String(CLIENTS), '-q', String(OUTSTANDING)], { timeout: (seconds + 30) * 1000 });
  const number = (pattern: RegExp) => Number(pattern.exec(stdout)?.[1] ?? NaN);
  return {
    qps: Math.round(number(/Queries per second:\s+([\d.]+)/)),
    avgLatencyMs: Math.round(number(/Average Latency \(s\):\s+([\d.]+)/) * 1e6) / 1e3,
    latencyStdDevMs: Math.round(number(/Latency StdDev \(s\):\s+([\d.]+)/) * 1e6) / 1e3,
    sent: number(/Queries sent:\s+(\d+)/),
    lost: number(/Queries lost:\s+(\d+)/),
    responseCodes: /Response codes:\s+(.*)/.exec(stdout)?.[1]?.trim() ?? '',
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

async function measure(start: () => Promise<{ child: ChildProcess; port: number }>, queryFile: string): Promise<Figures> {
  const { child, port } = await start();
  try {
    await waitForAnswer(port);
    await dnsperf(port, queryFile, WARMUP_SECONDS);
    return await dnsperf(port, queryFile, SECONDS);
  } finally {
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  await ensureTools();
  const zone = parseZone(JSON.parse(readFileSync(path.join(repoRoot, 'fake-internet/dns/fixtures/zone.json'), 'utf8')));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-dns-bench-'));
  try {
    const withAddresses = Object.entries(zone.records).filter(([name, r]) => r.a !== undefined && !name.startsWith('*.') && !SKIPPED.has(name));
    const aliases = Object.entries(zone.records).filter(([name, r]) => r.cname !== undefined && !name.startsWith('*.') && zone.records[r.cname]?.a !== undefined);
    const queryFile = path.join(dir, 'queries.txt');
    await writeFile(queryFile, [...withAddresses, ...aliases].map(([name]) => `${name} A\n`).join(''));
    const hostsFile = path.join(dir, 'hosts');
    await writeFile(hostsFile, withAddresses.flatMap(([name, r]) => r.a!.map((ip) => `${ip} ${name}\n`)).join(''));
    const dnsmasqConf = path.join(dir, 'dnsmasq.conf');
    await writeFile(dnsmasqConf, aliases.map(([name, r]) => `cname=${name},${r.cname}\n`).join(''));
    const zoneDir = path.join(dir, 'zone');
    await mkdir(zoneDir);
    await writeFile(path.join(zoneDir, 'zone.json'), JSON.stringify(zone));
    const configFile = path.join(dir, 'dns.json');

    const ours = await measure(async () => {
      const port = await freePort();
      await writeFile(configFile, JSON.stringify({ zoneFile: path.join(zoneDir, 'zone.json'), logFile: path.join(dir, 'queries.jsonl'), host: '127.0.0.1', port, logLevel: 'warn' }));
      const child = spawn(process.execPath, ['--import', 'tsx', 'fake-internet/dns/main.ts', '--config', configFile], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
      return { child, port };
    }, queryFile);

    const dnsmasq = await measure(async () => {
      const port = await freePort();
      const child = spawn('dnsmasq', ['--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=127.0.0.1', `--port=${port}`, `--addn-hosts=${hostsFile}`, `--conf-file=${dnsmasqConf}`, `--pid-file=${path.join(dir, 'dnsmasq.pid')}`, '--user=root'], { stdio: ['ignore', 'ignore', 'inherit'] });
      return { child, port };
    }, queryFile);

    console.log(JSON.stringify({
      benchmark: 'dns',
      durationSeconds: SECONDS,
      clients: CLIENTS,
      outstanding: OUTSTANDING,
      queryNames: withAddresses.length + aliases.length,
      ours,
      baseline: { name: 'dnsmasq', ...dnsmasq },
      ratio: Math.round((ours.qps / dnsmasq.qps) * 100) / 100,
      goal: 0.5,
    }, null, 2));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
