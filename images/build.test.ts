/**
 * The image builder against the real Docker engine: debootstraps a base, builds the workspace on it
 * with no network, and checks what a student gets. Both images go under a random repository name and
 * are removed at the end. The base build (debootstrap) takes about a minute, so it runs once.
 */
import { expect } from 'chai';
import Dockerode from 'dockerode';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { defaultConfig } from '../core/config.ts';
import { SERVICE_ENTRYPOINTS } from './services.ts';
import { isOutpostError } from '../core/errors.ts';
import {
  createImageBuilder,
  detectDebianMirror,
  LABEL_HASH,
  LABEL_IMAGE,
  parseAptSources,
  type ImageBuilder,
  type ImageBuildResult,
  type ImagePlan,
  type ImageProgressEvent,
} from './build.ts';

describe('parseAptSources / detectDebianMirror', () => {
  const deb822 = [
    'Types: deb',
    '# http://old.example.org/archive/debian/20250520T000000Z',
    'URIs: http://mirror.example.org/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://mirror.example.org/debian-security',
    'Suites: bookworm-security',
    'Components: main',
    '',
  ].join('\n');

  it('reads the first non-security deb822 entry and ignores comments', () => {
    expect(parseAptSources([{ name: 'debian.sources', text: deb822 }])).to.equal('http://mirror.example.org/debian');
  });

  it('skips deb-src, disabled stanzas and security archives', () => {
    const text = [
      'Types: deb-src',
      'URIs: http://src.example.org/debian',
      'Suites: bookworm',
      '',
      'Types: deb',
      'Enabled: no',
      'URIs: http://off.example.org/debian',
      'Suites: bookworm',
      '',
      'Types: deb',
      'URIs: http://sec.example.org/debian-security',
      'Suites: bookworm-security',
      '',
      'Types: deb deb-src',
      'URIs: http://on.example.org/debian/',
      'Suites: bookworm',
    ].join('\n');
    expect(parseAptSources([{ name: 'x.sources', text }])).to.equal('http://on.example.org/debian');
  });

  it('reads one-line sources, with options and comments', () => {
    const text = [
      '# deb http://commented.example.org/debian bookworm main',
      'deb-src http://src.example.org/debian bookworm main',
      'deb http://security.debian.example.org/debian-security bookworm-security main',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://one.example.org/debian bookworm main contrib',
    ].join('\n');
    expect(parseAptSources([{ name: 'sources.list', text }])).to.equal('http://one.example.org/debian');
  });

  it('prefers an entry for the requested suite, and says undefined when there is none', () => {
    const text = 'deb http://a.example.org/debian bullseye main\ndeb http://b.example.org/debian bookworm main\n';
    expect(parseAptSources([{ name: 'sources.list', text }], 'bookworm')).to.equal('http://b.example.org/debian');
    expect(parseAptSources([{ name: 'sources.list', text }])).to.equal('http://a.example.org/debian');
    expect(parseAptSources([{ name: 'sources.list', text: '# nothing\n' }, { name: 'empty.sources', text: '' }])).to.equal(undefined);
  });

  it('reads a directory laid out like /etc/apt and fails clearly when it names no mirror', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-apt-'));
    try {
      await mkdir(path.join(dir, 'sources.list.d'));
      await writeFile(path.join(dir, 'sources.list.d', 'other.list.disabled'), 'deb http://no.example.org/debian bookworm main\n');
      expect(() => detectDebianMirror('bookworm', dir)).to.throw(/No Debian mirror found/).that.satisfies((e: unknown) => isOutpostError(e, 'IMAGE_BUILD_FAILED'));
      await writeFile(path.join(dir, 'sources.list.d', 'debian.sources'), deb822);
      expect(detectDebianMirror('bookworm', dir)).to.equal('http://mirror.example.org/debian');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a one-shot container the way sandboxes run: no network, read-only root, the student's uid, in-memory /tmp. */
async function runIn(docker: Dockerode, image: string, cmd: string[], user = '1000'): Promise<RunResult> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    User: user,
    Tty: false,
    HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' } },
  });
  try {
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    const out = { stdout: '', stderr: '' };
    // Without a TTY the log stream is multiplexed: 8-byte headers (stream id, length) before each frame.
    for (let offset = 0; offset + 8 <= logs.length; ) {
      const size = logs.readUInt32BE(offset + 4);
      const text = logs.subarray(offset + 8, offset + 8 + size).toString('utf8');
      if (logs[offset] === 2) out.stderr += text;
      else out.stdout += text;
      offset += 8 + size;
    }
    return { code: StatusCode, ...out };
  } finally {
    await container.remove({ force: true });
  }
}

describe('images/build against the real engine', function () {
  this.timeout(20 * 60_000);

  const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
  const repository = `outpost-test-${randomBytes(4).toString('hex')}`;
  const images = { ...defaultConfig().images, repository };
  const events: (ImageProgressEvent & { at: number })[] = [];
  const logLines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  let cacheDir: string;
  let builder: ImageBuilder;
  let firstPlan: ImagePlan[];
  let firstResults: ImageBuildResult[];
  const workspace = `${repository}/workspace:latest`;

  const makeBuilder = (uid: number, config = images) =>
    createImageBuilder({ docker, config, uid, cacheDir, log, onProgress: (event) => events.push({ ...event, at: Date.now() }) });

  before(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'outpost-images-'));
    builder = makeBuilder(1000);
    firstPlan = await builder.plan();
    firstResults = await builder.build();
  });

  after(async () => {
    const leftovers = await docker.listImages({ filters: { reference: [`${repository}/*`] } });
    for (const image of leftovers) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
    const timings = logLines.filter((line) => typeof line.seconds === 'number').map((line) => `${String(line.msg)}: ${String(line.seconds)} s`);
    console.log(`      timings: ${timings.join('; ')}`);
  });

  it('planned and built both images, base first', () => {
    expect(firstPlan.map((p) => [p.image, p.needsBuild])).to.deep.equal([['base', true], ['workspace', true], ['services', true]]);
    expect(firstResults.map((r) => [r.image, r.built])).to.deep.equal([[`${repository}/base:latest`, true], [workspace, true], [`${repository}/services:latest`, true]]);
    const steps = new Set(events.map((e) => e.step));
    for (const step of ['debootstrap', 'docker import', 'npm pack', 'npm install', 'docker build', 'tag', 'done']) expect(steps, step).to.include(step);
    expect(events.some((e) => e.step === 'docker build' && /^step \d+\/\d+/.test(e.detail ?? ''))).to.equal(true);
    const phases = events.filter((e) => e.step === 'debootstrap').map((e) => e.detail);
    expect(phases.length, 'debootstrap phases').to.be.above(3);
    expect(phases.join('\n')).not.to.match(/:\/\//);
    console.log(`      debootstrap phases: ${phases.join(' | ')}`);
  });

  it('labels each image with its kind and content hash and tags it :latest and :<hash>', async () => {
    for (const entry of firstPlan) {
      const info = await docker.getImage(entry.name).inspect();
      expect(info.Config.Labels?.[LABEL_IMAGE]).to.equal(entry.image);
      expect(info.Config.Labels?.[LABEL_HASH]).to.equal(entry.contentHash);
      expect(info.RepoTags).to.include(`${repository}/${entry.image}:${entry.contentHash.slice(0, 12)}`);
      console.log(`      ${entry.name}: ${(info.Size / 1e6).toFixed(0)} MB`);
    }
  });

  it('runs as the student with HOME and the working directory set', async () => {
    const result = await runIn(docker, workspace, ['bash', '-c', 'echo "$(id -u) $(id -un) $HOME $(pwd) $(stat -c %U /workspace) $(stat -c %U /run/outpost)"']);
    expect(result.stdout.trim()).to.equal('1000 student /home/student /workspace student student');
  });

  it('has the agent, root-owned and executable', async () => {
    const result = await runIn(docker, workspace, ['stat', '-c', '%a %U', '/opt/outpost/bin/outpost-agent']);
    expect(result.stdout.trim()).to.equal('755 root');
  });

  it('has Node 24 or later, npm and npx', async () => {
    const node = await runIn(docker, workspace, ['node', '-v']);
    expect(node.code).to.equal(0);
    expect(Number(/^v(\d+)/.exec(node.stdout.trim())?.[1])).to.be.at.least(24);
    const npm = await runIn(docker, workspace, ['npm', '-v']);
    expect(npm.code, npm.stderr).to.equal(0);
    expect(npm.stdout.trim()).to.equal(images.npmPackage.split('@')[1]);
    const npx = await runIn(docker, workspace, ['npx', '--version']);
    expect(npx.code, npx.stderr).to.equal(0);
  });

  it('has the student tools on PATH and chai on NODE_PATH', async () => {
    const tsc = await runIn(docker, workspace, ['tsc', '-v']);
    expect(tsc.stdout).to.match(/Version 5\.9\.3/);
    const mocha = await runIn(docker, workspace, ['mocha', '--version']);
    expect(mocha.code, mocha.stderr).to.equal(0);
    expect(mocha.stdout.trim()).to.equal('11.7.5');
    const chai = await runIn(docker, workspace, ['node', '-e', "require('chai').expect(1).to.equal(1); console.log('ok')"]);
    expect(chai.code, chai.stderr).to.equal(0);
    expect(chai.stdout.trim()).to.equal('ok');
  });

  it('has the Debian tools', async () => {
    const checks: [string[], RegExp][] = [
      [['python3', '-m', 'pytest', '--version'], /pytest \d+/],
      [['git', '--version'], /git version/],
      [['dig', '-v'], /DiG \d+/],
      [['curl', '--version'], /curl \d+/],
      [['vim', '--version'], /VIM - Vi IMproved/],
      [['ps', '-e'], /PID/],
      [['less', '--version'], /less \d+/],
      [['make', '--version'], /GNU Make/],
      [['jq', '--version'], /jq-/],
    ];
    for (const [cmd, pattern] of checks) {
      const result = await runIn(docker, workspace, cmd);
      expect(result.code, `${cmd.join(' ')}: ${result.stderr}`).to.equal(0);
      expect(result.stdout + result.stderr, cmd.join(' ')).to.match(pattern);
    }
  });

  it('has the services bundled, with their native SQLite addon matching the image\'s Node', async () => {
    const services = `${repository}/services:latest`;
    const r = await runIn(docker, services, ['node', '-e', "const D = require('/opt/outpost/services/node_modules/better-sqlite3'); new D(':memory:').prepare('select 1').get(); require.resolve('/opt/outpost/services/node_modules/verdaccio'); console.log(process.versions.node, require('node:fs').readdirSync('/opt/outpost/services').filter((f) => f.endsWith('.mjs')).sort().join(','))"], '990');
    expect(r.stderr).to.equal('');
    expect(r.stdout.trim()).to.equal(`${process.versions.node} ${Object.keys(SERVICE_ENTRYPOINTS).sort().join(',')}`);
  });

  it('reports every image present and up to date', async () => {
    const status = await builder.status();
    expect(status.map((s) => [s.image, s.present, s.upToDate])).to.deep.equal([
      [`${repository}/base:latest`, true, true],
      [workspace, true, true],
      [`${repository}/services:latest`, true, true],
    ]);
  });

  it('builds nothing the second time, quickly', async () => {
    const started = Date.now();
    const results = await makeBuilder(1000).build();
    const seconds = (Date.now() - started) / 1000;
    expect(results.map((r) => r.built)).to.deep.equal([false, false, false]);
    expect(seconds).to.be.below(5);
    console.log(`      no-op build: ${seconds.toFixed(2)} s`);
  });

  it('rebuilds only the workspace when its inputs change, and prunes the old one', async () => {
    const changed = makeBuilder(1001);
    const plan = await changed.plan();
    expect(plan.map((p) => p.needsBuild)).to.deep.equal([false, true, false]);
    const oldWorkspace = firstPlan[1]!;
    const started = Date.now();
    const results = await changed.build();
    console.log(`      workspace-only rebuild: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(results.map((r) => r.built)).to.deep.equal([false, true, false]);
    const info = await docker.getImage(workspace).inspect();
    expect(info.Config.Labels?.[LABEL_HASH]).to.equal(plan[1]!.contentHash).and.not.equal(oldWorkspace.contentHash);
    const id = await runIn(docker, workspace, ['id', '-u'], '');
    expect(id.stdout.trim()).to.equal('1001');
    const old = await docker.listImages({ filters: { reference: [`${repository}/workspace:${oldWorkspace.contentHash.slice(0, 12)}`] } });
    expect(old).to.have.length(0);
    // The original builder now sees its workspace as out of date, and base as current.
    expect((await builder.status()).map((s) => s.upToDate)).to.deep.equal([true, false, true]);
  });
});
