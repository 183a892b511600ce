import { expect } from 'chai';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { isOutpostError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { openStore, type Store } from '../../core/store.ts';
import { compareVersions, createPackageMirror, pruneToStoredTarballs, registryMigrations, type PackageMirror } from './packages.ts';

function writePackument(storageDir: string, name: string, versions: string[], latest: string, storedTarballs: string[]): string {
  const dir = path.join(storageDir, name);
  mkdirSync(dir, { recursive: true });
  const base = name.split('/').pop()!;
  const packument = {
    name,
    versions: Object.fromEntries(versions.map((v) => [v, { name, version: v, dist: { tarball: `http://upstream.invalid/${name}/-/${base}-${v}.tgz` } }])),
    'dist-tags': { latest, next: versions.at(-1) },
    time: { created: '2020-01-01T00:00:00.000Z', modified: '2021-01-01T00:00:00.000Z', ...Object.fromEntries(versions.map((v) => [v, '2020-06-01T00:00:00.000Z'])) },
    _attachments: Object.fromEntries(storedTarballs.map((v) => [`${base}-${v}.tgz`, { shasum: 'x' }])),
    _distfiles: Object.fromEntries(versions.map((v) => [`${base}-${v}.tgz`, { url: 'x' }])),
  };
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(packument));
  for (const v of storedTarballs) writeFileSync(path.join(dir, `${base}-${v}.tgz`), `tarball ${v}`);
  return path.join(dir, 'package.json');
}

describe('registry package mirror (storage and requests)', () => {
  let dir: string;
  let storageDir: string;
  let store: Store;
  let mirror: PackageMirror;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'outpost-registry-packages-'));
    storageDir = path.join(dir, 'storage');
    mkdirSync(storageDir);
    store = openStore(path.join(dir, 'outpost.db'), registryMigrations);
    mirror = createPackageMirror({ storageDir, store, log: silentLogger() });
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prunes packuments to the versions whose tarballs are stored and repoints dist-tags', () => {
    const file = writePackument(storageDir, 'lib', ['1.0.0', '1.1.0', '2.0.0-beta.1', '2.0.0'], '2.0.0', ['1.0.0', '1.1.0']);
    writePackument(storageDir, '@scope/tool', ['0.1.0'], '0.1.0', ['0.1.0']);
    const optional = writePackument(storageDir, 'fsevents', ['2.3.3'], '2.3.3', []);

    expect(pruneToStoredTarballs(storageDir).sort()).to.deep.equal(['fsevents', 'lib']);
    const pruned = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(pruned.versions)).to.deep.equal(['1.0.0', '1.1.0']);
    expect(pruned['dist-tags']).to.deep.equal({ latest: '1.1.0' });
    expect(Object.keys(pruned.time).sort()).to.deep.equal(['1.0.0', '1.1.0', 'created', 'modified']);
    expect(Object.keys(pruned._distfiles).sort()).to.deep.equal(['lib-1.0.0.tgz', 'lib-1.1.0.tgz']);
    const stub = JSON.parse(readFileSync(optional, 'utf8'));
    expect(stub.versions).to.deep.equal({});
    expect(stub['dist-tags']).to.deep.equal({});

    expect(pruneToStoredTarballs(storageDir)).to.deep.equal([]);
    expect(mirror.list()).to.deep.equal([
      { name: '@scope/tool', versions: ['0.1.0'] },
      { name: 'lib', versions: ['1.0.0', '1.1.0'] },
    ]);
  });

  it('exports the stored packages and merges them into another mirror (new versions only, twice is a no-op)', async () => {
    writePackument(storageDir, 'lib', ['1.0.0', '1.1.0'], '1.1.0', ['1.0.0', '1.1.0']);
    writePackument(storageDir, '@scope/tool', ['0.1.0'], '0.1.0', ['0.1.0']);
    const exported = path.join(dir, 'exported');
    expect(await mirror.exportTo(exported)).to.deep.include({ packages: 2, tarballs: 3 });

    const insideDir = path.join(dir, 'inside');
    writePackument(insideDir, 'lib', ['0.9.0', '1.0.0'], '1.0.0', ['0.9.0', '1.0.0']);
    writeFileSync(path.join(insideDir, 'lib', 'lib-1.0.0.tgz'), 'the inside copy');
    const inside = createPackageMirror({ storageDir: insideDir, store, log: silentLogger() });
    const result = await inside.importFrom(exported);
    expect(result.added).to.deep.equal(['@scope/tool@0.1.0', 'lib@1.1.0']);
    expect(inside.list()).to.deep.equal([
      { name: '@scope/tool', versions: ['0.1.0'] },
      { name: 'lib', versions: ['0.9.0', '1.0.0', '1.1.0'] },
    ]);
    const lib = JSON.parse(readFileSync(path.join(insideDir, 'lib', 'package.json'), 'utf8'));
    expect(lib['dist-tags'].latest).to.equal('1.1.0');
    // A version the mirror already had is kept as it was.
    expect(readFileSync(path.join(insideDir, 'lib', 'lib-1.0.0.tgz'), 'utf8')).to.equal('the inside copy');
    expect((await inside.importFrom(exported)).added).to.deep.equal([]);
  });

  it('refuses imported packages when one tarball does not match its integrity, writing none of them', async () => {
    writePackument(storageDir, 'good', ['1.0.0'], '1.0.0', ['1.0.0']);
    const packument = writePackument(storageDir, 'lib', ['1.0.0'], '1.0.0', ['1.0.0']);
    const value = JSON.parse(readFileSync(packument, 'utf8'));
    value.versions['1.0.0'].dist.integrity = 'sha512-' + Buffer.alloc(64).toString('base64');
    writeFileSync(packument, JSON.stringify(value));
    const insideDir = path.join(dir, 'inside');
    mkdirSync(insideDir);
    const inside = createPackageMirror({ storageDir: insideDir, store, log: silentLogger() });
    const failure = await inside.importFrom(storageDir).catch((error: unknown) => error);
    expect(isOutpostError(failure, 'PACKAGES_INVALID'), String(failure)).to.equal(true);
    expect(inside.list()).to.deep.equal([]);
  });

  it('orders versions the semver way', () => {
    const sorted = ['1.10.0', '1.2.0', '1.2.0-rc.10', '1.2.0-rc.2', '1.2.0-alpha', '0.9.9', '2.0.0'].sort(compareVersions);
    expect(sorted).to.deep.equal(['0.9.9', '1.2.0-alpha', '1.2.0-rc.2', '1.2.0-rc.10', '1.2.0', '1.10.0', '2.0.0']);
  });

  it('counts requests per package and keeps the first and last time', () => {
    mirror.recordRequest('left-pad', 'alice');
    mirror.recordRequest('left-pad');
    mirror.recordRequest('@types/left-pad', 'bob');
    const requested = mirror.requested();
    expect(requested.map((r) => [r.name, r.count, r.requestedBy, r.status])).to.deep.equal([
      ['left-pad', 2, 'alice', 'pending'],
      ['@types/left-pad', 1, 'bob', 'pending'],
    ]);
    expect(requested[0]!.firstRequestedAt <= requested[0]!.lastRequestedAt).to.equal(true);
    expect(() => mirror.recordRequest('https://example.invalid/x')).to.throw().that.satisfies((e: unknown) => isOutpostError(e, 'PACKAGES_INVALID'));
  });

  it('ingests only whole new lines of the request log, and starts over when the log was rotated', () => {
    const log = path.join(dir, 'requests.jsonl');
    const line = (name: string, time: string) => `${JSON.stringify({ time, name, ip: '10.0.0.7', method: 'GET', path: `/${name}` })}\n`;
    writeFileSync(log, line('left-pad', '2026-01-01T10:00:00.000Z') + 'not json\n' + line('left-pad', '2026-01-01T11:00:00.000Z'));
    appendFileSync(log, line('is-odd', '2026-01-01T12:00:00.000Z').slice(0, 20));
    expect(mirror.ingestRequestLog(log)).to.deep.equal({ ingested: 2, skipped: 1 });
    expect(mirror.ingestRequestLog(log)).to.deep.equal({ ingested: 0, skipped: 0 });

    appendFileSync(log, line('is-odd', '2026-01-01T12:00:00.000Z').slice(20));
    expect(mirror.ingestRequestLog(log)).to.deep.equal({ ingested: 1, skipped: 0 });
    const leftPad = mirror.requested().find((r) => r.name === 'left-pad')!;
    expect(leftPad).to.include({ count: 2, requestedBy: '10.0.0.7', firstRequestedAt: '2026-01-01T10:00:00.000Z', lastRequestedAt: '2026-01-01T11:00:00.000Z' });

    writeFileSync(log, line('is-even', '2026-01-02T09:00:00.000Z'));
    expect(mirror.ingestRequestLog(log)).to.deep.equal({ ingested: 1, skipped: 0 });
    expect(mirror.ingestRequestLog(path.join(dir, 'absent.jsonl'))).to.deep.equal({ ingested: 0, skipped: 0 });
  });

  it('refuses specs that are not registry packages before fetching anything', async () => {
    for (const specs of [[], ['git+https://example.invalid/a.git'], ['express', 'file:../x'], ['someone/repo']]) {
      const failure = await mirror.add(specs, { registry: 'http://127.0.0.1:9/' }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isOutpostError(failure, 'PACKAGES_INVALID'), JSON.stringify(specs)).to.equal(true);
    }
    const badRegistry = await mirror.add(['express'], { registry: 'ftp://127.0.0.1/' }).catch((error: unknown) => error);
    expect(isOutpostError(badRegistry, 'INPUT_INVALID')).to.equal(true);
  });

  it('reports a registry it cannot reach as PACKAGES_FETCH_FAILED, not as a missing package', async function () {
    this.timeout(60_000);
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    probe.close();
    await once(probe, 'close');
    const failure = await mirror.add(['is-number'], { registry: `http://127.0.0.1:${port}/` }).catch((error: unknown) => error);
    expect(isOutpostError(failure, 'PACKAGES_FETCH_FAILED'), String(failure)).to.equal(true);
    expect(mirror.list()).to.deep.equal([]);
  });
});
