/**
 * The control plane's side of the inside internet without an engine: moving the gateway's rotating
 * request log into the network log, and refusing a mirror at a service's name.
 */
import { expect } from 'chai';
import type Dockerode from 'dockerode';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../core/config.ts';
import { isOutpostError } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { openStore, type Store } from '../core/store.ts';
import { openRequestLog, type RequestLogEntry } from './gateway/request-log.ts';
import type { GitHosting } from './git/hosting.ts';
import { allowlistMigrations, createFakeInternet, mirrorMigrations, registryMigrations, type FakeInternet } from './index.ts';

describe('fake internet (control plane side)', () => {
  let root = '';
  let store: Store;
  let fi: FakeInternet;
  let logFile = '';

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-fi-'));
    const config = loadConfig({ env: {}, cwd: root, overrides: { dataDir: path.join(root, 'data'), git: { aliases: ['github.com'] } } });
    store = openStore(path.join(root, 'outpost.db'), [...mirrorMigrations, ...registryMigrations, ...allowlistMigrations]);
    // Neither is touched by what these tests call.
    fi = createFakeInternet({ docker: {} as Dockerode, config, store, log: silentLogger(), image: 'unused', git: {} as GitHosting });
    logFile = path.join(config.dataDir, 'fake-internet', 'logs', 'gateway', 'gateway.jsonl');
  });
  afterEach(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });

  describe('network log ingestion across rotation', () => {
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const entry = (p: string, blocked = false): RequestLogEntry => ({ time: new Date().toISOString(), client: '10.0.0.9', owner: 'mallory', method: 'GET', host: 'x.example.org', path: p, status: blocked ? 403 : 404, bytes: 0, durationMs: 0, ...(blocked ? { blocked: true } : {}) });
    const paths = () => (store.db.prepare("select detail from network_log where service = 'gateway' and status <> 'log-gap' order by id").all() as { detail: string }[]).map((r) => r.detail.replace(/^GET /, ''));

    it('ingests every line exactly once when the log rotates between two ingests, torn lines never', async () => {
      const log = openRequestLog({ file: logFile, maxBytes: 4096, log: silentLogger() });
      try {
        const written: string[] = [];
        const write = async (p: string, blocked = false) => { log.write(entry(p, blocked)); written.push(p); await tick(); };
        for (let i = 0; i < 20; i++) await write(`/warmup${i}`);
        expect(fi.ingestLogs()).to.equal(20);
        const firstOffset = statSync(logFile).size;
        // The blocked attempt, then a flood: the log rotates once and the new file grows past the old offset.
        await write('/FORBIDDEN-SITE', true);
        for (let i = 0; !existsSync(`${logFile}.1`) || statSync(logFile).size <= firstOffset + 100; i++) await write(`/flood${i}`);
        expect((await readFile(`${logFile}.1`, 'utf8'))).to.include('FORBIDDEN');
        expect(fi.ingestLogs()).to.equal(written.length - 20);
        for (let i = 0; i < 3; i++) await write(`/after${i}`);
        expect(fi.ingestLogs()).to.equal(3);
        expect(fi.ingestLogs()).to.equal(0);
        expect(paths()).to.deep.equal(written);
        expect(fi.networkLog({ owner: 'mallory', blocked: true }).map((e) => e.detail)).to.deep.equal(['GET /FORBIDDEN-SITE']);
      } finally {
        await log.close();
      }
    });

    it('records a gap, with a warning row, when the log rotated twice between two ingests', async () => {
      const log = openRequestLog({ file: logFile, maxBytes: 4096, log: silentLogger() });
      try {
        for (let i = 0; i < 5; i++) { log.write(entry(`/a${i}`)); await tick(); }
        fi.ingestLogs();
        log.write(entry('/FORBIDDEN-SITE', true));
        for (let i = 0; i < 80; i++) { log.write(entry(`/flood${i}`)); await tick(); }
        fi.ingestLogs();
        const gaps = store.db.prepare("select service, detail from network_log where status = 'log-gap'").all() as { service: string; detail: string }[];
        expect(gaps).to.have.length(1);
        expect(gaps[0]!.service).to.equal('gateway');
        expect(gaps[0]!.detail).to.match(/rotated away twice .* were never read/);
        // What could still be read was: the newest lines are all there, each once.
        const seen = paths();
        expect(seen.at(-1)).to.equal('/flood79');
        expect(new Set(seen).size).to.equal(seen.length);
      } finally {
        await log.close();
      }
    });
  });

  describe('mirror hosts', () => {
    it("refuses to import a site at a service's name or a git alias, saying what to do", async () => {
      const from = path.join(root, 'site');
      await mkdir(from);
      await writeFile(path.join(from, 'index.html'), '<title>Look-alike</title>');
      for (const host of ['search.outpost', 'registry.outpost', 'git.outpost', 'ns.outpost', 'github.com']) {
        try {
          await fi.mirrors.importSite({ name: 'clash', host, pathPrefix: '/', from });
          expect.fail(`${host} was accepted`);
        } catch (error) {
          expect(isOutpostError(error, 'MIRROR_INVALID'), String(error)).to.equal(true);
          expect((error as Error).message).to.include(`${host} is `);
          expect((error as Error).message).to.match(/Import the site under another host name/);
        }
      }
      try {
        await fi.mirrors.importSite({ name: 'clash', host: 'github.com', pathPrefix: '/docs/', from });
        expect.fail('github.com was accepted');
      } catch (error) {
        expect((error as Error).message).to.match(/alias of the git server \(git\.aliases/);
      }
      expect(fi.mirrors.list()).to.deep.equal([]);
      // The real site behind an alias is fine anywhere else.
      expect(await fi.mirrors.importSite({ name: 'ok', host: 'docs.github.com', pathPrefix: '/', from })).to.include({ host: 'docs.github.com' });
    });
  });
});
