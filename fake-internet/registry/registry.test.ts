/**
 * End to end, with the real tools: packages are fetched from the machine's configured npm registry
 * (the one outside address tests may use, through npm itself) into a storage directory, then the
 * sealed registry (main.ts as its own process, no uplinks) serves that storage on loopback to the
 * stock npm client with an empty cache.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isOutpostError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../../core/store.ts';
import { createPackageMirror, registryMigrations, type AddProgress, type PackageMirror } from './packages.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const MISSING = 'left-pad-does-not-exist-xyz';

interface Run {
  code: number | null;
  output: string;
}

function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString('utf8')));
    child.stderr.on('data', (data: Buffer) => (output += data.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

function readJson(file: string): Record<string, any> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
}

describe('registry: fill from the machine registry, then serve sealed', function () {
  this.timeout(300_000);

  let dir: string;
  let storageDir: string;
  let store: Store;
  let mirror: PackageMirror;
  let registry: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'outpost-registry-'));
    storageDir = path.join(dir, 'storage');
    store = openStore(path.join(dir, 'outpost.db'), registryMigrations);
    mirror = createPackageMirror({ storageDir, store, log: silentLogger() });
    const configured = await run('npm', ['config', 'get', 'registry'], dir);
    registry = configured.output.split('\n').find((line) => /^https?:\/\//.test(line))?.trim() ?? '';
    expect(registry, 'npm config get registry').to.match(/^https?:\/\//);
  });

  after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('filling the storage (add)', () => {
    it('stores the requested version and prunes the packument to what is stored', async () => {
      const first = await mirror.add(['is-number@6.0.0'], { registry });
      expect(first.added).to.deep.equal(['is-number@6.0.0']);
      expect(first.tarballs).to.equal(1);
      expect(first.bytes).to.be.greaterThan(1000);
      const packumentFile = path.join(storageDir, 'is-number', 'package.json');
      expect(Object.keys(readJson(packumentFile).versions)).to.deep.equal(['6.0.0']);
      expect(readJson(packumentFile)['dist-tags']).to.deep.equal({ latest: '6.0.0' });

      // The pruned packument must not hide newer versions from the next fill.
      const events: AddProgress[] = [];
      const second = await mirror.add(['is-number@7.0.0'], { registry, onProgress: (event) => events.push(event) });
      expect(second.added).to.deep.equal(['is-number@7.0.0']);
      expect(Object.keys(readJson(packumentFile).versions).sort()).to.deep.equal(['6.0.0', '7.0.0']);
      expect(readJson(packumentFile)['dist-tags']).to.deep.equal({ latest: '7.0.0' });
      expect(events).to.deep.include({ step: 'metadata', name: 'is-number' });
      expect(events).to.deep.include({ step: 'tarball', name: 'is-number' });
      expect(events.at(-1)).to.deep.equal({ step: 'prune' });
      expect(mirror.list()).to.deep.equal([{ name: 'is-number', versions: ['6.0.0', '7.0.0'] }]);
    });

    it('stores whole dependency trees, optional dependencies for other platforms as empty packuments', async () => {
      const result = await mirror.add(['express', 'nodemon'], { registry });
      const names = new Set(result.added.map((id) => id.slice(0, id.lastIndexOf('@'))));
      for (const name of ['express', 'body-parser', 'router', 'nodemon', 'chokidar']) expect(names, name).to.include(name);
      expect(result.tarballs).to.equal(result.added.length).and.be.greaterThan(50);
      // fsevents is macOS-only: npm read its packument but fetched no tarball.
      expect(readJson(path.join(storageDir, 'fsevents', 'package.json')).versions).to.deep.equal({});
      expect(mirror.list().map((p) => p.name)).to.not.include('fsevents');
    });

    it('refuses a bad spec with PACKAGES_INVALID and a package the registry lacks likewise', async () => {
      const bad = await mirror.add(['github:someone/repo'], { registry }).catch((error: unknown) => error);
      expect(isOutpostError(bad, 'PACKAGES_INVALID')).to.equal(true);
      const missing = await mirror.add([MISSING], { registry }).catch((error: unknown) => error);
      expect(isOutpostError(missing, 'PACKAGES_INVALID'), String(missing)).to.equal(true);
      expect((missing as Error).message).to.include(MISSING);
    });

    it('approves a requested package by adding it', async () => {
      mirror.recordRequest('is-number', 'alice');
      const result = await mirror.approve('is-number', { registry });
      expect(result.added).to.deep.equal([]);
      expect(mirror.requested().find((r) => r.name === 'is-number')).to.include({ status: 'approved', count: 1, requestedBy: 'alice' });
    });
  });

  describe('the sealed registry (main.ts, no uplinks)', () => {
    let child: ChildProcess;
    let base: string;
    let requestLog: string;
    let exit: Promise<unknown[]>;

    before(async () => {
      requestLog = path.join(dir, 'log', 'requests.jsonl');
      const configFile = path.join(dir, 'registry.json');
      writeFileSync(configFile, JSON.stringify({ storageDir, listen: '127.0.0.1:0', publicUrl: 'https://registry.outpost/', requestLog }));
      child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'fake-internet/registry/main.ts'), '--config', configFile], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      exit = once(child, 'exit');
      let output = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.on('data', (data: Buffer) => {
          output += data.toString('utf8');
          const line = output.split('\n').find((l) => l.includes('"registry listening"'));
          if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
        });
        child.stderr!.on('data', (data: Buffer) => (output += data.toString('utf8')));
        child.on('exit', (code) => reject(new Error(`registry exited with ${code}: ${output}`)));
      });
      base = `http://127.0.0.1:${port}/`;
    });

    after(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exit;
      }
    });

    /**
     * The registry logs a request once its response is finished, which the client may see first:
     * look a few times before concluding the line is missing.
     */
    async function loggedRequest(name: string): Promise<{ name: string; ip: string; via?: string } | undefined> {
      for (let attempt = 0; attempt < 50; attempt++) {
        const text = existsSync(requestLog) ? readFileSync(requestLog, 'utf8') : '';
        const lines = text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { name: string; ip: string; via?: string });
        const found = lines.find((line) => line.name === name);
        if (found !== undefined) return found;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return undefined;
    }

    /** The stock client in a fresh project: no user config, an empty cache, audit left on. */
    async function npmInstall(...specs: string[]): Promise<Run & { project: string }> {
      const project = mkdtempSync(path.join(dir, 'project-'));
      writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'exercise', version: '1.0.0', private: true }));
      writeFileSync(path.join(project, '.npmrc-empty'), '');
      mkdirSync(path.join(project, '.cache'));
      const result = await run('npm', ['install', '--registry', base, '--cache', path.join(project, '.cache'), '--userconfig', path.join(project, '.npmrc-empty'), ...specs], project);
      return { ...result, project };
    }

    it('installs a stored package offline, each range resolving to a stored version', async () => {
      const latest = await npmInstall('is-number');
      expect(latest.code, latest.output).to.equal(0);
      expect(readJson(path.join(latest.project, 'node_modules/is-number/package.json')).version).to.equal('7.0.0');
      const older = await npmInstall('is-number@^6');
      expect(older.code, older.output).to.equal(0);
      expect(readJson(path.join(older.project, 'node_modules/is-number/package.json')).version).to.equal('6.0.0');
    });

    it('installs express and nodemon with their trees offline, and they load', async () => {
      const install = await npmInstall('express', 'nodemon');
      expect(install.code, install.output).to.equal(0);
      const load = await run(process.execPath, ['-e', "require('express')(); require('nodemon/package.json'); require('chokidar')"], install.project);
      expect(load.code, load.output).to.equal(0);
    });

    it("answers a missing package with npm's E404 and logs the request for ingest", async () => {
      const install = await npmInstall(MISSING);
      expect(install.code).to.not.equal(0);
      expect(install.output).to.match(/E404/);
      expect(await loggedRequest(MISSING)).to.include({ ip: '127.0.0.1' });

      expect(mirror.ingestRequestLog(requestLog).ingested).to.be.greaterThan(0);
      expect(mirror.requested().find((r) => r.name === MISSING)).to.include({ status: 'pending', requestedBy: '127.0.0.1' });
      expect(mirror.ingestRequestLog(requestLog).ingested).to.equal(0);
    });

    it('puts tarball URLs on the public URL for requests that came through the gateway', async () => {
      const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'registry.outpost', 'X-Forwarded-For': '10.1.2.3' };
      for (const accept of ['application/json', 'application/vnd.npm.install-v1+json']) {
        const viaGateway = (await (await fetch(`${base}is-number`, { headers: { ...forwarded, accept } })).json()) as { versions: Record<string, { dist: { tarball: string } }> };
        expect(Object.values(viaGateway.versions).map((v) => v.dist.tarball)).to.have.members([
          'https://registry.outpost/is-number/-/is-number-6.0.0.tgz',
          'https://registry.outpost/is-number/-/is-number-7.0.0.tgz',
        ]);
      }
      const direct = (await (await fetch(`${base}is-number`)).json()) as { versions: Record<string, { dist: { tarball: string } }> };
      expect(direct.versions['7.0.0']!.dist.tarball).to.equal(`${base}is-number/-/is-number-7.0.0.tgz`);

      expect((await fetch(`${base}another-missing-package`, { headers: forwarded })).status).to.equal(404);
      expect(await loggedRequest('another-missing-package')).to.include({ ip: '10.1.2.3', via: '127.0.0.1' });
    });

    it('refuses to publish', async () => {
      const response = await fetch(`${base}students-package`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'students-package', versions: { '1.0.0': { name: 'students-package', version: '1.0.0' } }, 'dist-tags': { latest: '1.0.0' }, _attachments: {} }),
      });
      expect(response.status).to.be.oneOf([401, 403]);
      expect(existsSync(path.join(storageDir, 'students-package'))).to.equal(false);
    });

    it('stops cleanly on SIGTERM', async () => {
      child.kill('SIGTERM');
      const [code, signal] = await exit;
      expect({ code, signal }).to.deep.equal({ code: 0, signal: null });
    });
  });
});
