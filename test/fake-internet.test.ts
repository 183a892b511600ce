/**
 * The inside internet, end to end, from inside real sandboxes with the real clients: dig and getent
 * against Outpost's DNS, curl and Node's fetch over HTTPS with the local CA, the stock npm client
 * against the registry mirror, and the attacks on the network's walls (host, control plane, other
 * students, the outside). Traffic goes only to containers and the network this test creates, and
 * to loopback.
 */
import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestSystem, addStudents, text, writeTree, type TestSystem } from './support.ts';
import { removeIsolation } from '../fake-internet/network.ts';
import { createGrader } from '../curriculum/grader.ts';
import { exerciseFileSchema } from '../curriculum/schema.ts';
import { silentLogger } from '../core/log.ts';

const run = promisify(execFile);

describe('the fake internet, from inside real sandboxes', function () {
  this.timeout(10 * 60_000);
  let t: TestSystem;
  let hostServer: Server;
  let hostPort = 0;
  const subnetOctet = 100 + Math.floor(Math.random() * 150);
  const exec = (owner: string, script: string, timeoutSeconds = 60) => t.system.sandbox.workspaces.exec(owner, { argv: ['bash', '-c', script], timeoutSeconds });

  before(async () => {
    // A network and subnet of this run's own, so parallel or leftover runs never collide.
    t = await startTestSystem({ fakeInternet: { enabled: true, subnet: `10.213.${subnetOctet}.0/24`, network: `outpost-test-sealed-${subnetOctet}-${process.pid}` } });
    const fi = t.system.fakeInternet!;
    const site = path.join(t.root, 'site');
    await mkdir(path.join(site, 'library'), { recursive: true });
    await writeFile(path.join(site, 'index.html'), '<!doctype html><title>Python docs</title><h1>Python 3 documentation</h1>');
    await writeFile(path.join(site, 'library', 'json.html'), '<!doctype html><title>json — JSON encoder and decoder</title><p>json exposes an API familiar to users of marshal.</p>');
    await fi.mirrors.importSite({ name: 'python-docs', host: 'docs.python.org', pathPrefix: '/3/', from: site });
    const other = path.join(t.root, 'other');
    await mkdir(other);
    await writeFile(path.join(other, 'index.html'), '<!doctype html><title>Forbidden fruit</title><p>not for cohort c1</p>');
    await fi.mirrors.importSite({ name: 'fruit', host: 'fruit.example.org', pathPrefix: '/', from: other });
    const { stdout: registry } = await run('npm', ['config', 'get', 'registry']);
    await fi.packages.add(['express'], { registry: registry.trim() });
    await t.system.accounts.createCohort('c1', 'One', { name: 'test' });
    await t.system.accounts.createCohort('c2', 'Two', { name: 'test' });
    await addStudents(t.system, ['ana', 'ben']);
    t.system.accounts.addToCohort('c1', 'ana', { name: 'test' });
    t.system.accounts.addToCohort('c2', 'ben', { name: 'test' });
    t.system.store.db.prepare("insert into cohort_sites (cohort, sites, updated_at, updated_by) values ('c1', '[\"python-docs\",\"registry\",\"search\"]', datetime('now'), 'test')").run();
    await t.system.start();
    // A server on every host address, as a careless control plane would listen.
    hostServer = createServer((_req, res) => res.end('host secret'));
    await new Promise<void>((resolve) => hostServer.listen(0, '0.0.0.0', resolve));
    hostPort = (hostServer.address() as { port: number }).port;
  });

  after(async () => {
    hostServer?.close();
    if (t) {
      await t.system.fakeInternet?.down();
      await t.cleanup();
      await t.system.docker.getNetwork(t.config.fakeInternet.network).remove().catch(() => undefined);
      await removeIsolation(t.config.fakeInternet.network);
    }
  });

  it('starts the services on a sealed network where the host has no address', async () => {
    const status = await t.system.fakeInternet!.status();
    expect(status.network).to.deep.equal({ exists: true, sealed: true, hostAddresses: [] });
    expect(status.services.map((s) => [s.service, s.running])).to.deep.equal([['dns', true], ['gateway', true], ['git', true], ['registry', true]]);
  });

  it('resolves mirrored names to the gateway and everything else to NXDOMAIN, and logs who asked', async () => {
    const r = await exec('ana', 'dig +short docs.python.org; dig +short registry.outpost; dig unknown-site.example.com | grep -o "status: [A-Z]*"; getent hosts docs.python.org | cut -d" " -f1; getent hosts nothing.invalid || echo "getent failed"; hostname -I');
    const [docs, registry, status, getent, failed, ip] = text(r.stdout).trim().split('\n').map((l) => l.trim());
    const { gateway } = t.system.fakeInternet!.addresses;
    expect(docs).to.equal(gateway);
    expect(registry).to.equal(gateway);
    expect(status).to.equal('status: NXDOMAIN');
    expect(getent).to.equal(gateway);
    expect(failed).to.equal('getent failed');
    const log = await readFile(path.join(t.config.dataDir, 'fake-internet', 'logs', 'dns', 'dns.jsonl'), 'utf8');
    const entries = log.trim().split('\n').map((l) => JSON.parse(l) as { client: string; name: string; rcode: string });
    expect(entries.some((e) => e.client === ip && e.name === 'unknown-site.example.com' && e.rcode === 'NXDOMAIN')).to.equal(true);
  });

  it('serves mirrored pages over HTTPS with TLS verified, to curl and to Node', async () => {
    const r = await exec('ana', 'curl -sS https://docs.python.org/3/library/json.html; echo; node -e "fetch(\'https://docs.python.org/3/\').then(r => r.text()).then(t => console.log(t.includes(\'Python 3 documentation\')))"');
    expect(text(r.stdout)).to.include('json exposes an API familiar to users of marshal');
    expect(text(r.stdout)).to.match(/true\s*$/);
    expect(r.exitCode, text(r.stderr)).to.equal(0);
    const missing = await exec('ana', 'curl -s -w "\\n%{http_code}" https://docs.python.org/3/nope.html');
    expect(text(missing.stdout).trim().split('\n').pop()).to.equal('404');
    expect(text(missing.stdout)).to.match(/not mirrored/i);
    const search = await exec('ana', 'curl -s "https://search.outpost/api?q=marshal"');
    const results = (JSON.parse(text(search.stdout)) as { results: { url: string; title: string }[] }).results;
    expect(results.map((r) => r.url)).to.include('https://docs.python.org/3/library/json.html');
  });

  it("blocks a site the student's cohort may not visit, with a clear page and a log entry", async () => {
    const blocked = await exec('ana', 'curl -s -w "\\n%{http_code}" https://fruit.example.org/');
    const identity = await readFile(path.join(t.config.dataDir, 'fake-internet', 'etc', 'identity', 'identity.json'), 'utf8');
    expect(text(blocked.stdout), identity).to.match(/blocked/i);
    expect(text(blocked.stdout).trim().split('\n').pop()).to.equal('403');
    const allowed = await exec('ben', 'curl -s https://fruit.example.org/');
    expect(text(allowed.stdout)).to.include('not for cohort c1');
    const log = await readFile(path.join(t.config.dataDir, 'fake-internet', 'logs', 'gateway', 'gateway.jsonl'), 'utf8');
    const entries = log.trim().split('\n').map((l) => JSON.parse(l) as { owner?: string; host: string; blocked?: boolean; status: number });
    expect(entries.some((e) => e.owner === 'ana' && e.host === 'fruit.example.org' && e.blocked === true && e.status === 403), log).to.equal(true);
    expect(entries.some((e) => e.owner === 'ana' && e.host === 'fruit.example.org' && e.blocked === true && e.status === 403)).to.equal(true);
    expect(entries.some((e) => e.owner === 'ben' && e.host === 'fruit.example.org' && e.status === 200)).to.equal(true);
  });

  it('installs a mirrored package with the stock npm client, and records one that is not mirrored', async () => {
    const ok = await exec('ana', 'mkdir -p /workspace/p && cd /workspace/p && npm init -y >/dev/null && npm install express 2>&1 && node -e "console.log(typeof require(\'express\')().listen)" && grep -c "https://registry.outpost/" package-lock.json', 180);
    expect(ok.exitCode, text(ok.stdout) + text(ok.stderr)).to.equal(0);
    const lines = text(ok.stdout).trim().split('\n');
    expect(lines.at(-2)).to.equal('function');
    // The lockfile names the mirror, so a later `npm ci` inside works too.
    expect(Number(lines.at(-1))).to.be.greaterThan(10);
    const bad = await exec('ana', 'cd /workspace/p && npm install left-pad-not-mirrored-xyz 2>&1', 120);
    expect(bad.exitCode).to.not.equal(0);
    expect(text(bad.stdout)).to.match(/E404|404 Not Found/);
    const logFile = path.join(t.config.dataDir, 'fake-internet', 'logs', 'registry', 'registry.jsonl');
    t.system.fakeInternet!.packages.ingestRequestLog(logFile);
    expect(t.system.fakeInternet!.packages.requested().map((p) => p.name)).to.include('left-pad-not-mirrored-xyz');
  });

  it("puts every request and DNS query in the staff's network log, with the student who made it", async () => {
    const fi = t.system.fakeInternet!;
    // The server ingests every 10 s too, so this call may find the work done already.
    fi.ingestLogs();
    const ana = fi.networkLog({ owner: 'ana' });
    expect(ana.some((e) => e.service === 'dns' && e.host === 'unknown-site.example.com' && e.status === 'NXDOMAIN')).to.equal(true);
    expect(ana.some((e) => e.service === 'gateway' && e.host === 'docs.python.org' && e.status === '200')).to.equal(true);
    expect(fi.networkLog({ owner: 'ana', blocked: true }).map((e) => e.host)).to.deep.equal(['fruit.example.org']);
    expect(fi.networkLog({ owner: 'ben' }).every((e) => e.owner === 'ben')).to.equal(true);
    // Ingestion resumes where it stopped: nothing is counted twice.
    expect(fi.ingestLogs()).to.equal(0);
    expect(fi.networkLog({ owner: 'ana' }).length).to.equal(ana.length);
  });

  it('grades visible tests on the sealed network and hidden tests with no network at all', async () => {
    // The attack: code loaded by the hidden tests sends them to a place the student can read later
    // (git.outpost, with a token brought in the submission). Here it only checks whether it could:
    // if the hidden run reaches the network, total() is wrong and the hidden test fails.
    const dir = await writeTree(path.join(t.root, 'ex', 'js-total'), {
      'tests/visible/test/total.test.js': "import { expect } from 'chai';\nimport { total } from '../total.js';\ndescribe('total', () => {\n  it('adds', () => expect(total([1, 2])).to.equal(3));\n});\n",
      'tests/hidden/test/total-hidden.test.js': "import { expect } from 'chai';\nimport { total } from '../total.js';\ndescribe('total (hidden)', () => {\n  it('refunds', () => expect(total([5, -2])).to.equal(3));\n});\n",
    });
    const exercise = { id: 'js-total', dir, spec: exerciseFileSchema.parse({ id: 'js-total', title: 'Total', language: 'javascript', grader: { adapter: 'mocha', timeLimitSeconds: 10 } }) };
    const probe = `import { lookup } from 'node:dns/promises';
import { readdirSync } from 'node:fs';
import net from 'node:net';
const hidden = readdirSync('test').some((f) => f.includes('hidden'));
let reached = 'nothing';
try {
  // Off the network, Docker's embedded resolver stays configured and lets a lookup hang (10 s).
  const { address } = await Promise.race([lookup('git.outpost'), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), 2000))]);
  reached = await new Promise((resolve) => { const s = net.connect(443, address, () => { s.destroy(); resolve('git.outpost:443 at ' + address); }); s.on('error', () => resolve('resolved only')); s.setTimeout(3000, () => { s.destroy(); resolve('resolved only'); }); });
} catch {}
console.log('reached: ' + reached);
export function total(xs) { return hidden && reached !== 'nothing' ? 0 : xs.reduce((a, b) => a + b, 0); }
`;
    const grader = createGrader({ oneShot: t.system.sandbox.oneShot, workDir: path.join(t.root, 'grader-work'), log: silentLogger() });
    // One warm container for both runs (the usual case), and two containers (an exercise with an image of its own).
    for (const image of [undefined, t.system.sandbox.image]) {
      const submission = await writeTree(path.join(t.root, 'subs', image === undefined ? 'warm' : 'cold'), { 'total.js': probe, 'package.json': '{"type":"module"}' });
      const r = await grader.grade({ exercise, owner: 'ana', submissionDir: submission, ...(image ? { image } : {}) });
      expect(r.output, 'the visible run, like a workspace, reaches the sealed network').to.match(/reached: git\.outpost:443 at 10\.213\./);
      expect(r.tests.find((x) => x.visibility === 'hidden')?.passed, `the hidden run reached nothing (${image ?? 'warm'}): ${JSON.stringify(r)}`).to.equal(true);
    }
  });

  it('has no way out: no default route, no host listener, no control plane, no other student', async () => {
    const { bridgeGateway } = t.system.fakeInternet!.addresses;
    const server = await t.system.sandbox.workspaces.stream('ben', { argv: ['python3', '-m', 'http.server', '8000'], timeoutSeconds: 120 });
    server.stdout.resume();
    server.stderr.resume();
    const benIp = text((await exec('ben', 'hostname -I')).stdout).trim();
    await new Promise((r) => setTimeout(r, 500));
    const r = await exec('ana', [
      'ip route',
      // The only route's next hop is the bridge address no host interface holds: nothing answers it.
      `ping -c 1 -W 2 ${bridgeGateway} >/dev/null 2>&1 && echo REACHED-BRIDGE-GATEWAY`,
      `curl -s --max-time 3 http://${bridgeGateway}:${hostPort}/ && echo REACHED-HOST`,
      `curl -s --max-time 3 http://127.0.0.1:${hostPort}/ && echo REACHED-LOOPBACK`,
      `curl -s --max-time 3 http://${benIp}:8000/ && echo REACHED-BEN`,
      // Services behind the gateway (git, the registry) answer only the gateway: no bypass of its
      // allowlist and request log, no forged X-Forwarded-For.
      `curl -s --max-time 3 http://${t.system.fakeInternet!.addresses.registry}:4873/-/ping && echo REACHED-REGISTRY-DIRECTLY`,
      // The isolation rules are IPv4 (iptables): an IPv6 address, even link-local, would walk past
      // them to ben's server (python's http.server and Node listen on :: too). There must be none.
      'grep -v " lo$" /proc/net/if_inet6 | sed "s/^/IPV6-ADDRESS /"',
      'echo done',
    ].join('; '));
    const out = text(r.stdout);
    const routes = out.split('\n').filter((l) => /^(default|\d+\.)/.test(l));
    for (const route of routes) expect(route, 'every route stays on the sealed subnet').to.match(new RegExp(`^(default via ${bridgeGateway.replace(/\./g, '\\.')} |${t.config.fakeInternet.subnet.replace(/\./g, '\\.').replace('/', '\\/')} )`));
    expect((await t.system.fakeInternet!.status()).network.hostAddresses).to.deep.equal([]);
    expect(out).to.not.include('REACHED');
    expect(out).to.not.include('IPV6-ADDRESS');
    expect(out).to.not.include('host secret');
    expect(out).to.include('done');
    // Ben's server does run: he reaches it himself.
    expect(text((await exec('ben', 'curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8000/')).stdout)).to.equal('200');
    server.close();
  });
});
