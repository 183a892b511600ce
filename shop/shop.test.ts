/**
 * The shop's domain against a real store, real git hosting (bare repositories on disk) and the real
 * git CLI: a request becomes a team repository, a pushed commit becomes a deliverable, the client's
 * acceptance becomes a package whose personal-data check, diff and bundle are real, and the bundle
 * clones to the same commit. Also: who may see and push what, hours validation, attachments, CSV.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFile, mkdir, mkdtemp, rm, writeFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { createAccounts, type Accounts, type User } from '../core/accounts.ts';
import { createAuditLog, type AuditLog } from '../core/audit.ts';
import { defaultConfig, type Config } from '../core/config.ts';
import { isOutpostError } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { openStore, type Store } from '../core/store.ts';
import { createGitHosting, gitMigrations, type GitHosting } from '../fake-internet/git/hosting.ts';
import { detectAttachmentType, cleanFilename } from './attachments.ts';
import { shopMigrations } from './migrations.ts';
import { createShop, csvField, slugify, type Shop } from './shop.ts';
import type { ShopBuilder } from './build.ts';
import { createTeams, teamNames } from './teams.ts';

const run = promisify(execFile);

/** The real git CLI as a student would run it (own identity, no system config). */
async function gitIn(cwd: string, ...args: string[]): Promise<string> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C' };
  return (await run('git', ['-c', 'safe.directory=*', '-c', 'user.name=Ana Lima', '-c', 'user.email=ana@git.outpost', ...args], { cwd, env })).stdout.trim();
}

async function expectCode(work: () => unknown, code: string): Promise<void> {
  try {
    await work();
  } catch (error) {
    expect(isOutpostError(error), String(error)).to.equal(true);
    expect((error as { code: string }).code, (error as Error).message).to.equal(code);
    return;
  }
  expect.fail(`expected ${code}`);
}

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(32, 1)]);

describe('shop (domain, real store and git)', function () {
  this.timeout(60_000);
  let root: string;
  let store: Store;
  let audit: AuditLog;
  let accounts: Accounts;
  let git: GitHosting;
  let shop: Shop;
  let config: Config;
  const sys = { name: 'test' };
  const user = (name: string): User => accounts.require(name);

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'outpost-shop-'));
    config = { ...defaultConfig(), dataDir: path.join(root, 'data') };
    config.shop = { ...config.shop, maxAttachmentMiB: 1, maxAttachmentsPerRequest: 3 };
    store = openStore(path.join(config.dataDir, 'outpost.db'), [...gitMigrations, ...shopMigrations]);
    audit = createAuditLog({ store, anchorFile: path.join(config.dataDir, 'audit.anchor') });
    accounts = createAccounts({ store, audit, config: config.auth });
    const teams = createTeams({ store, accounts, audit });
    git = createGitHosting({ store, accounts, audit, config, log: silentLogger(), teamMembers: (t) => teams.members(t) });
    shop = createShop({ store, audit, accounts, git, teams, config: config.shop, dataDir: config.dataDir });
    const pw = 'a long enough password 1';
    await accounts.create({ name: 'cleo', role: 'client', displayName: 'Cleo Bakery', password: pw }, sys);
    await accounts.create({ name: 'carl', role: 'client', password: pw }, sys);
    await accounts.create({ name: 'ana', role: 'student', displayName: 'Ana Lima', externalId: 'P-4711', password: pw }, sys);
    await accounts.create({ name: 'bo', role: 'student', displayName: 'Bo Berg', password: pw }, sys);
    await accounts.create({ name: 'zed', role: 'student', displayName: 'Zed Outsider', password: pw }, sys);
    await accounts.create({ name: 'ines', role: 'instructor', password: pw }, sys);
    await accounts.create({ name: 'stan', role: 'staff', password: pw }, sys);
  });
  after(async () => {
    store.close();
    await rm(root, { recursive: true, force: true });
  });

  describe('attachments', () => {
    it('accepts the allowed types by their bytes, with a matching extension', () => {
      expect(detectAttachmentType(PDF, 'brief.pdf').kind).to.equal('pdf');
      expect(detectAttachmentType(PNG, 'logo.PNG').kind).to.equal('png');
      expect(detectAttachmentType(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]), 'a.jpeg').kind).to.equal('jpeg');
      expect(detectAttachmentType(Buffer.from('PK\x03\x04rest'), 'files.zip').kind).to.equal('zip');
      expect(detectAttachmentType(Buffer.from('# Menu\n\n- bread ✓\n'), 'menu.md').kind).to.equal('markdown');
      expect(detectAttachmentType(Buffer.from('plain words\r\n'), 'notes.txt').kind).to.equal('text');
    });

    it('refuses other types, and names that lie about the bytes', () => {
      for (const [data, name] of [
        [Buffer.from('<html><script>alert(1)</script></html>'), 'page.html'],
        [Buffer.from('<svg onload="alert(1)"/>'), 'logo.svg'],
        [Buffer.from('<html></html>'), 'brief.pdf'],
        [PNG, 'logo.txt'],
        [PDF, 'brief.png'],
        [Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03]), 'setup.exe'],
        [Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03]), 'setup.txt'],
        [Buffer.from('text with a NUL\0 in it'), 'x.txt'],
        [Buffer.alloc(0), 'empty.txt'],
      ] as const) {
        expect(() => detectAttachmentType(data, name), name).to.throw().with.property('code', 'SHOP_ATTACHMENT_TYPE');
      }
      expect(cleanFilename('../../etc/passwd')).to.equal('passwd');
      expect(cleanFilename('C:\\Users\\me\\plan "v2".pdf')).to.equal('plan v2.pdf');
      expect(() => cleanFilename('..')).to.throw().with.property('code', 'INPUT_INVALID');
    });

    it('stores files by SHA-256, refuses too large files and too many, audits each', async () => {
      const r = shop.createRequest({ title: 'Files test', description: 'Checking attachments here', criteria: 'none' }, user('carl'), sys);
      const a = await shop.addAttachment(r.id, { filename: 'brief.pdf', data: PDF }, { name: 'carl' });
      expect(a).to.include({ filename: 'brief.pdf', kind: 'pdf', size: PDF.length });
      const stored = await readdir(path.join(config.dataDir, 'shop', 'attachments'));
      expect(stored).to.include(a.sha256);
      expect(stored.some((f) => f.includes('brief'))).to.equal(false);
      expect(await readFile(path.join(config.dataDir, 'shop', 'attachments', a.sha256))).to.deep.equal(PDF);
      await expectCode(() => shop.addAttachment(r.id, { filename: 'big.txt', data: Buffer.alloc(1024 * 1024 + 1, 0x61) }, { name: 'carl' }), 'SHOP_ATTACHMENT_TOO_LARGE');
      await expectCode(() => shop.addAttachment(r.id, { filename: 'x.html', data: Buffer.from('<p>hi</p>') }, { name: 'carl' }), 'SHOP_ATTACHMENT_TYPE');
      await shop.addAttachment(r.id, { filename: 'b.png', data: PNG }, { name: 'carl' });
      await shop.addAttachment(r.id, { filename: 'c.md', data: Buffer.from('# c') }, { name: 'carl' });
      await expectCode(() => shop.addAttachment(r.id, { filename: 'd.md', data: Buffer.from('# d') }, { name: 'carl' }), 'SHOP_STATE_INVALID');
      expect(audit.query({ action: 'shop.attachment.add' }).total).to.equal(3);
    });
  });

  describe('the whole flow', () => {
    let projectId: number;
    let repoDir: string;
    let work: string;
    let firstCommit: string;

    it('files a request that only its client (and triagers) can see', () => {
      const r = shop.createRequest({ title: 'Bakery order site!', description: 'Customers order bread online.', criteria: 'An order form that works' }, user('cleo'), { name: 'cleo' });
      expect(r.status).to.equal('submitted');
      expect(shop.requestFor(user('cleo'), r.id).id).to.equal(r.id);
      expect(shop.requestFor(user('ines'), r.id).id).to.equal(r.id);
      expect(() => shop.requestFor(user('carl'), r.id)).to.throw().with.property('code', 'SHOP_REQUEST_NOT_FOUND');
      expect(() => shop.requestFor(user('ana'), r.id)).to.throw().with.property('code', 'SHOP_REQUEST_NOT_FOUND');
      expect(() => shop.createRequest({ title: 'x', description: 'y', criteria: 'z' }, user('ana'), sys)).to.throw().with.property('code', 'AUTH_FORBIDDEN');
    });

    it('accepts: a team repository from the skeleton, writable by the team only', async () => {
      const r = shop.requests({ client: 'cleo' })[0]!;
      await expectCode(() => shop.accept(r.id, { scope: 'The order form', team: 'Falcon', members: ['ana', 'bo'], lead: 'ana', milestones: [{ title: 'Form', due: '2026-12-01' }] }, { name: 'ines' }), 'INPUT_INVALID');
      await expectCode(() => shop.accept(r.id, { scope: 'The order form', team: 'Falcon', members: ['ana', 'bo'], lead: 'ines', milestones: [{ title: 'Form', due: '2026-13-01' }] }, { name: 'ines' }), 'INPUT_INVALID');
      await expectCode(() => shop.accept(r.id, { scope: 'The order form', team: 'Falcon', members: ['ana', 'cleo'], lead: 'ines', milestones: [{ title: 'Form', due: '2026-12-01' }] }, { name: 'ines' }), 'SHOP_TEAM_INVALID');
      const p = await shop.accept(r.id, { scope: 'The order form', team: 'Falcon', members: ['ana', 'bo'], lead: 'ines', milestones: [{ title: 'Order form', due: '2026-12-01' }, { title: 'Payments', due: '2027-01-15' }] }, { name: 'ines' });
      projectId = p.id;
      expect(p).to.include({ repoOwner: 'team-falcon', repoName: 'bakery-order-site', lead: 'ines', client: 'cleo' });
      expect(shop.request(r.id)!.status).to.equal('accepted');
      await expectCode(() => shop.accept(r.id, { scope: 'again', team: 'Falcon', members: [], lead: 'ines', milestones: [{ title: 'x', due: '2026-12-01' }] }, { name: 'ines' }), 'SHOP_STATE_INVALID');
      expect(git.get('team-falcon', 'bakery-order-site')).to.include({ ownerKind: 'team' });
      expect(git.access(user('ana'), 'team-falcon', 'bakery-order-site')).to.equal('write');
      expect(git.access(user('bo'), 'team-falcon', 'bakery-order-site')).to.equal('write');
      expect(git.access(user('zed'), 'team-falcon', 'bakery-order-site')).to.equal('none');
      expect(git.access(user('cleo'), 'team-falcon', 'bakery-order-site')).to.equal('none');
      expect(git.access(user('carl'), 'team-falcon', 'bakery-order-site')).to.equal('none');
      expect(git.access(user('stan'), 'team-falcon', 'bakery-order-site')).to.equal('read');
      const file = JSON.parse(await readFile(git.paths.accessFile, 'utf8')) as { repos: Record<string, { read: string[]; write: string[] }> };
      expect(file.repos['team-falcon/bakery-order-site']).to.deep.equal({ read: ['ines'], write: ['ana', 'bo'] });
      expect(shop.milestones(p.id).map((m) => [m.title, m.status])).to.deep.equal([['Order form', 'open'], ['Payments', 'open']]);
      expect(audit.query({ action: 'shop.request.accept' }).entries[0]).to.include({ actor: 'ines', target: `request:${r.id}` });
    });

    it("shows each person their part, and clients the pseudonym unless a student consents", () => {
      const p = shop.project(projectId)!;
      expect(shop.projectFor(user('cleo'), p.id).role).to.equal('client');
      expect(shop.projectFor(user('ana'), p.id).role).to.equal('member');
      expect(shop.projectFor(user('ines'), p.id).role).to.equal('lead');
      expect(shop.projectFor(user('stan'), p.id).role).to.equal('staff');
      for (const other of ['carl', 'zed']) expect(() => shop.projectFor(user(other), p.id), other).to.throw().with.property('code', 'SHOP_PROJECT_NOT_FOUND');
      expect(shop.projectsFor(user('carl'))).to.deep.equal([]);
      expect(shop.nameForClient(p, 'ana')).to.equal('Team Falcon');
      shop.teams.setConsent(p.team, 'bo', true, { name: 'bo' });
      expect(shop.nameForClient(p, 'bo')).to.equal('Bo Berg (Team Falcon)');
      shop.teams.setConsent(p.team, 'bo', false, { name: 'bo' });
      expect(shop.nameForClient(p, 'bo')).to.equal('Team Falcon');
      expect(teamNames('team  night owl')).to.deep.equal({ name: 'team-night-owl', pseudonym: 'Team Night Owl' });
      expect(slugify('Ölbäckerei: Orders & more')).to.equal('olbackerei-orders-more');
    });

    it('takes a pushed commit as a deliverable, validated against the repository', async () => {
      const p = shop.project(projectId)!;
      repoDir = git.repoDir(p.repoOwner, p.repoName);
      work = path.join(root, 'work');
      await gitIn(root, 'clone', '--quiet', repoDir, work);
      expect(await readFile(path.join(work, 'server.js'), 'utf8')).to.include("import express from 'express'");
      await writeFile(path.join(work, 'order.js'), '// order form, written by ana (Ana Lima, P-4711)\nexport const order = () => "bread";\n');
      await gitIn(work, 'add', '.');
      await gitIn(work, 'commit', '--quiet', '-m', 'Order form');
      await gitIn(work, 'push', '--quiet', 'origin', 'main');
      firstCommit = await gitIn(work, 'rev-parse', 'HEAD');
      const [m1] = shop.milestones(p.id);
      await expectCode(() => shop.markReady(p.id, m1!.id, 'no-such-branch', { name: 'ana' }), 'GIT_REF_NOT_FOUND');
      await expectCode(() => shop.markReady(p.id, m1!.id, 'bad..ref', { name: 'ana' }), 'GIT_REF_INVALID');
      const ready = await shop.markReady(p.id, m1!.id, 'main', { name: 'ana' });
      expect(ready).to.include({ status: 'ready', commit: firstCommit, readyBy: 'ana' });
      await expectCode(() => shop.markReady(p.id, m1!.id, 'main', { name: 'ana' }), 'SHOP_STATE_INVALID');
      shop.requestChanges(p.id, m1!.id, 'Please add a price', { name: 'cleo' });
      expect(shop.milestone(p.id, m1!.id).status).to.equal('changes-requested');
      const again = await shop.markReady(p.id, m1!.id, firstCommit.slice(0, 10), { name: 'ana' });
      expect(again.commit).to.equal(firstCommit);
      expect(shop.messages(p.id, m1!.id).map((m) => m.kind)).to.deep.equal(['ready', 'changes-requested', 'ready']);
    });

    it('turns an accepted deliverable into a package with findings, a diff and a bundle, released only on approval', async () => {
      const p = shop.project(projectId)!;
      const [m1] = shop.milestones(p.id);
      const { package: pkg } = await shop.acceptMilestone(p.id, m1!.id, 'Looks good', { name: 'cleo' });
      expect(pkg).to.include({ status: 'pending', commit: firstCommit, baseCommit: null });
      expect(pkg.sha256).to.match(/^[0-9a-f]{64}$/);
      const inFile = pkg.findings.filter((f) => f.where === 'order.js');
      expect(inFile.map((f) => f.what).sort()).to.deep.equal(['display name', 'person number', 'user name']);
      expect(inFile.every((f) => f.student === 'ana' && f.line === 1)).to.equal(true);
      // The history (authored by Ana Lima here) never ships, so its author lines are no finding.
      expect(pkg.findings.some((f) => !['order.js'].includes(f.where))).to.equal(false);
      expect(pkg.findings.some((f) => f.student === 'bo' || f.student === 'zed')).to.equal(false);
      expect(pkg.diff.files.map((f) => f.path)).to.include.members(['order.js', 'server.js', 'package.json', 'README.md']);
      expect(pkg.releaseNotes).to.include('Team Falcon').and.include(firstCommit).and.include('Order form');
      // Not downloadable before approval, by anyone but staff.
      expect(() => shop.packageForDownload(user('cleo'), pkg.id, { name: 'cleo' })).to.throw().with.property('code', 'SHOP_PACKAGE_NOT_FOUND');
      expect(() => shop.packageForDownload(user('ana'), pkg.id, { name: 'ana' })).to.throw().with.property('code', 'SHOP_PACKAGE_NOT_FOUND');
      expect(() => shop.approvePackage(pkg.id, '', { name: 'stan' })).to.throw().with.property('code', 'INPUT_INVALID');
      const approved = shop.approvePackage(pkg.id, 'A comment naming a team member; the team consented', { name: 'stan' });
      expect(approved.status).to.equal('approved');
      expect(() => shop.approvePackage(pkg.id, 'again', { name: 'stan' })).to.throw().with.property('code', 'SHOP_STATE_INVALID');
      expect(() => shop.packageForDownload(user('carl'), pkg.id, { name: 'carl' })).to.throw().with.property('code', 'SHOP_PACKAGE_NOT_FOUND');
      expect(() => shop.packageForDownload(user('ana'), pkg.id, { name: 'ana' })).to.throw().with.property('code', 'SHOP_PACKAGE_NOT_FOUND');
      const { file } = shop.packageForDownload(user('cleo'), pkg.id, { name: 'cleo' });
      const clone = path.join(root, 'delivered');
      await gitIn(root, 'clone', '--quiet', file, clone);
      // The delivered files under one new commit: the same tree, not the team's commit.
      expect(await gitIn(clone, 'rev-parse', 'HEAD^{tree}')).to.equal(await gitIn(work, 'rev-parse', `${firstCommit}^{tree}`));
      expect(await gitIn(clone, 'rev-parse', 'HEAD')).to.equal(approved.bundleCommit);
      expect(await gitIn(clone, 'rev-list', '--all', '--count')).to.equal('1');
      expect(await readFile(path.join(clone, 'order.js'), 'utf8')).to.include('bread');
      for (const action of ['shop.milestone.accept', 'shop.package.create', 'shop.package.approve', 'shop.package.download']) {
        expect(audit.query({ action }).total, action).to.be.greaterThan(0);
      }
    });

    it('diffs the next package against the last approved delivery, and never releases a rejected one', async () => {
      const p = shop.project(projectId)!;
      await writeFile(path.join(work, 'pay.js'), 'export const pay = () => true;\n');
      await gitIn(work, 'add', '.');
      await gitIn(work, 'commit', '--quiet', '-m', 'Payments');
      await gitIn(work, 'push', '--quiet', 'origin', 'main');
      const m2 = shop.milestones(p.id)[1]!;
      await shop.markReady(p.id, m2.id, 'main', { name: 'bo' });
      const { package: pkg } = await shop.acceptMilestone(p.id, m2.id, '', { name: 'cleo' });
      expect(pkg.baseCommit).to.equal(firstCommit);
      expect(pkg.diff.files).to.deep.equal([{ path: 'pay.js', status: 'added', additions: 1, deletions: 0, binary: false }]);
      expect(pkg.releaseNotes).to.include('Payments').and.not.include('- Order form');
      expect(() => shop.rejectPackage(pkg.id, '', { name: 'stan' })).to.throw().with.property('code', 'INPUT_INVALID');
      shop.rejectPackage(pkg.id, 'Contains a test key', { name: 'stan' });
      expect(() => shop.packageForDownload(user('cleo'), pkg.id, { name: 'cleo' })).to.throw().with.property('code', 'SHOP_PACKAGE_NOT_FOUND');
    });
  });

  describe('a package that cannot be made', () => {
    it('leaves the milestone ready and records why, when the bundle is over the limit', async () => {
      const p = shop.projects({ client: 'cleo' })[0]!;
      const strict = createShop({ store, audit, accounts, git, teams: shop.teams, config: { ...config.shop, maxBundleMiB: 1 }, dataDir: config.dataDir });
      const m = strict.addMilestone(p.id, { title: 'Photos', due: '2027-02-01' }, { name: 'ines' });
      const work = path.join(root, 'work');
      await writeFile(path.join(work, 'photo.bin'), randomBytes(1536 * 1024));
      await gitIn(work, 'add', '.');
      await gitIn(work, 'commit', '--quiet', '-m', 'Photos');
      await gitIn(work, 'push', '--quiet', 'origin', 'main');
      await strict.markReady(p.id, m.id, 'main', { name: 'ana' });
      await expectCode(() => strict.acceptMilestone(p.id, m.id, '', { name: 'cleo' }), 'SHOP_PACKAGE_FAILED');
      expect(strict.milestone(p.id, m.id).status).to.equal('ready');
      const failed = strict.packages({ project: p.id })[0]!;
      expect(failed).to.include({ status: 'rejected', reviewedBy: 'system', milestone: m.id });
      expect(failed.reviewNote).to.include('shop.maxBundleMiB');
      expect(audit.query({ action: 'shop.package.failed' }).total).to.equal(1);
      // With the normal limit the client's acceptance goes through.
      const { milestone } = await shop.acceptMilestone(p.id, m.id, '', { name: 'cleo' });
      expect(milestone.status).to.equal('accepted');
    });
  });

  describe('what leaves, and when (a second client, a team of its own)', () => {
    let projectId: number;
    let work: string;
    let builder: { calls: number; started?: () => void; gate?: Promise<void>; open?: () => void; fail: boolean } & ShopBuilder;
    let building: Shop;

    /** A builder that waits for the test to let it finish: the package is "being made" meanwhile. */
    function gatedBuilder(): typeof builder {
      const b = {
        calls: 0, fail: false,
        started: undefined as (() => void) | undefined, gate: undefined as Promise<void> | undefined, open: undefined as (() => void) | undefined,
        async build(input: { outFile: string }) {
          b.calls++;
          b.started?.();
          await b.gate;
          if (b.fail) throw new Error('npm ci failed');
          await writeFile(input.outFile, 'BUILD-BYTES');
          return { size: 11, sha256: createHash('sha256').update('BUILD-BYTES').digest('hex'), log: 'built' };
        },
      };
      return b;
    }
    /** Accepts the milestone; resolves once the build has started (and is held). */
    async function acceptHeld(milestoneId: number): Promise<{ accepting: Promise<unknown>; release: () => void }> {
      const started = new Promise<void>((resolve) => { builder.started = resolve; });
      builder.gate = new Promise<void>((resolve) => { builder.open = resolve; });
      const accepting = building.acceptMilestone(projectId, milestoneId, 'ok', { name: 'carl' }).then((r) => r, (e: unknown) => e);
      await Promise.race([started, accepting]);
      return { accepting, release: () => builder.open!() };
    }
    async function deliver(title: string, change: () => Promise<void>): Promise<number> {
      const m = building.addMilestone(projectId, { title, due: '2027-03-01' }, { name: 'ines' });
      await change();
      await gitIn(work, 'push', '--quiet', 'origin', 'main');
      await building.markReady(projectId, m.id, 'main', { name: 'bo' });
      return m.id;
    }
    // A test that fails while a build is held must not hold the next one's milestone.
    afterEach(() => builder.open?.());
    const auditFor = (action: string, id: number) => audit.query({ action, limit: 1000 }).entries.filter((e) => e.target === `package:${id}`);

    before(async () => {
      builder = gatedBuilder();
      building = createShop({ store, audit, accounts, git, teams: shop.teams, config: config.shop, dataDir: config.dataDir, builder });
      const r = building.createRequest({ title: 'Garden planner', description: 'Plan the beds online.', criteria: 'works' }, user('carl'), { name: 'carl' });
      const p = await building.accept(r.id, { scope: 'Beds', team: 'Heron', members: ['bo'], lead: 'ines', milestones: [{ title: 'Start', due: '2027-01-01' }] }, { name: 'ines' });
      projectId = p.id;
      work = path.join(root, 'work-heron');
      await gitIn(root, 'clone', '--quiet', git.repoDir(p.repoOwner, p.repoName), work);
    });

    it('ships one parentless commit of the delivered tree: a file committed and deleted never leaves', async () => {
      const m = await deliver('Beds', async () => {
        await writeFile(path.join(work, 'contacts.txt'), 'built by Ana Lima, person number P-4711\n');
        await gitIn(work, 'add', '.');
        await gitIn(work, 'commit', '--quiet', '-m', 'Add contacts');
        await rm(path.join(work, 'contacts.txt'));
        await writeFile(path.join(work, 'beds.js'), 'export const beds = 3;\n');
        await mkdir(path.join(work, 'credits'), { recursive: true });
        await writeFile(path.join(work, 'credits', 'Bo Berg.txt'), 'thanks\n');
        await gitIn(work, 'add', '-A');
        await gitIn(work, 'commit', '--quiet', '-m', 'Beds, without the contacts');
      });
      const delivered = building.milestone(projectId, m).commit!;
      const { package: pkg } = await building.acceptMilestone(projectId, m, '', { name: 'carl' });
      // What ships is what was scanned: the name in a path counts, the history's author lines do not.
      expect(pkg.findings.map((f) => [f.where, f.student, f.what])).to.deep.equal([['(file names)', 'bo', 'user name'], ['(file names)', 'bo', 'display name']]);
      building.approvePackage(pkg.id, 'The team credits Bo with consent', { name: 'stan' });
      const { file } = building.packageForDownload(user('carl'), pkg.id, { name: 'carl' });
      const clone = path.join(root, 'delivered-heron');
      await gitIn(root, 'clone', '--quiet', file, clone);
      const verify = await run('git', ['-c', 'safe.directory=*', 'bundle', 'verify', file], { cwd: clone }).then((r) => r.stdout + r.stderr);
      expect(verify, 'no prerequisite commits').to.match(/complete history/);
      expect(await gitIn(clone, 'rev-list', '--all', '--count')).to.equal('1');
      const head = await gitIn(clone, 'cat-file', '-p', 'HEAD');
      expect(head).to.not.match(/^parent /m);
      expect(head).to.match(/^author Team Heron <team-heron@shop\.invalid> \d+ \+0000$/m);
      expect(head).to.match(/^committer The Last Mile Works <outbound@shop\.invalid> \d+ \+0000$/m);
      expect(await gitIn(clone, 'rev-parse', 'HEAD')).to.equal(building.package(pkg.id)!.bundleCommit);
      expect(await gitIn(clone, 'rev-parse', 'HEAD^{tree}')).to.equal(await gitIn(work, 'rev-parse', `${delivered}^{tree}`));
      expect(await gitIn(clone, 'log', '-1', '--format=%B')).to.equal(pkg.releaseNotes.trim());
      // Every object the bundle brought, reachable or not.
      const everything = (await gitIn(clone, 'log', '-p', '--all', '--format=fuller')) + (await run('git', ['-c', 'safe.directory=*', 'cat-file', '--batch-all-objects', '--batch'], { cwd: clone, maxBuffer: 64 * 1024 * 1024 })).stdout;
      for (const trace of ['P-4711', 'Ana Lima', 'ana@git.outpost', 'built by']) expect(everything, trace).to.not.include(trace);
    });

    it('refuses approval while a package is being made; staff approve exactly the build the client gets', async () => {
      building.setBuild(projectId, { command: 'npm run build', output: 'dist' }, { name: 'ines' });
      const m = await deliver('Watering', async () => { await gitIn(work, 'commit', '--quiet', '--allow-empty', '-m', 'Watering'); });
      const { accepting, release } = await acceptHeld(m);
      const k = building.packages({ project: projectId })[0]!;
      expect(k).to.include({ status: 'building', milestone: m, build: null });
      await expectCode(() => building.approvePackage(k.id, 'Looks fine', { name: 'stan' }), 'SHOP_STATE_INVALID');
      await expectCode(() => building.rejectPackage(k.id, 'Not now', { name: 'stan' }), 'SHOP_STATE_INVALID');
      await expectCode(() => building.packageForDownload(user('stan'), k.id, { name: 'stan' }, 'build'), 'SHOP_STATE_INVALID');
      await expectCode(() => building.packageForDownload(user('carl'), k.id, { name: 'carl' }), 'SHOP_PACKAGE_NOT_FOUND');
      release();
      const result = await accepting as { package: { id: number; status: string } };
      expect(result.package).to.include({ id: k.id, status: 'pending' });
      const approved = building.approvePackage(k.id, 'The team credits Bo with consent', { name: 'stan' });
      expect(approved.build!.sha256).to.equal(createHash('sha256').update('BUILD-BYTES').digest('hex'));
      expect(auditFor('shop.package.approve', k.id).map((e) => e.details.build)).to.deep.equal([approved.build!.sha256]);
      expect(await readFile(building.packageForDownload(user('carl'), k.id, { name: 'carl' }, 'build').file, 'utf8')).to.equal('BUILD-BYTES');
    });

    it('records a failed build as rejected by the system: no approval, before or after', async () => {
      const m = await deliver('Harvest', async () => { await gitIn(work, 'commit', '--quiet', '--allow-empty', '-m', 'Harvest'); });
      builder.fail = true;
      try {
        const { accepting, release } = await acceptHeld(m);
        const k = building.packages({ project: projectId })[0]!;
        await expectCode(() => building.approvePackage(k.id, 'Looks fine', { name: 'stan' }), 'SHOP_STATE_INVALID');
        release();
        expect(String(await accepting)).to.include('npm ci failed');
        expect(building.package(k.id)).to.include({ status: 'rejected', reviewedBy: 'system' });
        expect(building.package(k.id)!.reviewNote).to.include('npm ci failed');
        expect(building.milestone(projectId, m).status).to.equal('ready');
        expect(auditFor('shop.package.approve', k.id)).to.deep.equal([]);
        expect(auditFor('shop.package.failed', k.id)).to.have.length(1);
        await expectCode(() => building.approvePackage(k.id, 'Looks fine', { name: 'stan' }), 'SHOP_STATE_INVALID');
      } finally {
        builder.fail = false;
      }
    });

    it('rejects the package, not the milestone, when the deliverable changes while it is made', async () => {
      const m = building.milestones(projectId).find((x) => x.title === 'Harvest')!.id;
      const { accepting, release } = await acceptHeld(m);
      const k = building.packages({ project: projectId })[0]!;
      building.requestChanges(projectId, m, 'One more bed please', { name: 'carl' });
      release();
      expect(await accepting).to.have.property('code', 'SHOP_STATE_INVALID');
      expect(building.package(k.id)).to.include({ status: 'rejected', reviewedBy: 'system', reviewNote: 'The milestone changed while its package was made.' });
      expect(building.milestone(projectId, m).status).to.equal('changes-requested');
    });

    it('lets staff reject, never approve, a package a stopped server left being made', async () => {
      const m = building.milestones(projectId)[0]!;
      const id = Number(store.db.prepare(`insert into shop_packages (project, milestone, commit_oid, status, bundle_file, size, sha256, release_notes, findings, diff, created_at)
        values (?, ?, ?, 'building', '', 0, '', '', '[]', '{"files":[]}', ?)`).run(projectId, m.id, '0'.repeat(40), new Date().toISOString()).lastInsertRowid);
      await expectCode(() => building.approvePackage(id, 'fine', { name: 'stan' }), 'SHOP_STATE_INVALID');
      expect(building.rejectPackage(id, 'The server restarted while it was made', { name: 'stan' }).status).to.equal('rejected');
    });
  });

  describe('store migration 85 (packages: building status, bundle commit)', () => {
    it('rebuilds shop_packages keeping every row, its index and foreign keys, and rejects packages an old server left half made', () => {
      const file = path.join(root, 'migrate', 'outpost.db');
      const old = openStore(file, [...gitMigrations, ...shopMigrations.filter((m) => m.version < 85)]);
      const at = '2026-01-01T00:00:00.000Z';
      old.db.prepare("insert into shop_requests (id, client, title, description, criteria, created_at) values (1, 'cleo', 't', 'd', 'c', ?)").run(at);
      old.db.prepare("insert into shop_teams (name, pseudonym, created_at, created_by) values ('team-owl', 'Team Owl', ?, 'x')").run(at);
      old.db.prepare("insert into shop_projects (id, request, client, title, slug, team, lead, scope, repo_owner, repo_name, created_at) values (1, 1, 'cleo', 't', 't', 'team-owl', 'ines', 's', 'team-owl', 't', ?)").run(at);
      old.db.prepare("insert into shop_milestones (id, project, position, title, due) values (1, 1, 1, 'M', '2026-02-01')").run();
      const insert = old.db.prepare("insert into shop_packages (id, project, milestone, commit_oid, status, bundle_file, size, sha256, release_notes, findings, diff, created_at, reviewed_by, build_file, build_sha256) values (?, 1, 1, ?, ?, ?, ?, ?, 'notes', '[]', '{}', ?, ?, ?, ?)");
      insert.run(1, 'a'.repeat(40), 'approved', '/p/1.bundle', 10, 'b'.repeat(64), at, 'stan', '/p/1.build.tar.gz', 'c'.repeat(64));
      insert.run(2, 'd'.repeat(40), 'pending', '/p/2.bundle', 20, 'e'.repeat(64), at, null, null, null);
      insert.run(3, 'f'.repeat(40), 'pending', '', 0, '', at, null, null, null);
      old.close();
      const migrated = openStore(file, [...gitMigrations, ...shopMigrations]);
      try {
        const { db } = migrated;
        const rows = db.prepare('select id, status, sha256, size, build_sha256, reviewed_by, review_note, bundle_commit from shop_packages order by id').all() as { id: number; status: string; reviewed_by: string | null; review_note: string | null }[];
        expect(rows.map((r) => [r.id, r.status, r.reviewed_by])).to.deep.equal([[1, 'approved', 'stan'], [2, 'pending', null], [3, 'rejected', 'system']]);
        expect(rows[0]).to.include({ sha256: 'b'.repeat(64), size: 10, build_sha256: 'c'.repeat(64), bundle_commit: null });
        expect(rows[2]!.review_note).to.include('server stopped');
        expect((db.prepare("select name from sqlite_master where type = 'index' and tbl_name = 'shop_packages'").all() as { name: string }[]).map((r) => r.name)).to.include('shop_packages_project');
        expect((db.prepare('pragma foreign_key_list(shop_packages)').all() as { table: string }[]).map((r) => r.table).sort()).to.deep.equal(['shop_milestones', 'shop_projects']);
        expect(db.prepare('pragma foreign_key_check').all()).to.deep.equal([]);
        expect(() => db.prepare("insert into shop_packages (project, milestone, commit_oid, bundle_file, size, sha256, release_notes, findings, diff, created_at) values (9, 1, 'x', '', 0, '', '', '[]', '{}', ?)").run(at)).to.throw(/FOREIGN KEY/);
        expect(() => db.prepare("update shop_packages set status = 'bogus' where id = 1").run()).to.throw(/CHECK/);
        const id = db.prepare("insert into shop_packages (project, milestone, commit_oid, bundle_file, size, sha256, release_notes, findings, diff, created_at) values (1, 1, 'x', '', 0, '', '', '[]', '{}', ?)").run(at).lastInsertRowid;
        expect((db.prepare('select status from shop_packages where id = ?').get(id) as { status: string }).status, 'a row made without a status cannot be approved').to.equal('building');
      } finally {
        migrated.close();
      }
    });
  });

  describe('hours', () => {
    const day = '2026-11-20';
    it('takes 0 < hours ≤ 16 per student and day across projects, on their own team\'s projects only', async () => {
      const [p] = shop.projects({ client: 'cleo' });
      const id = p!.id;
      shop.logHours({ student: 'ana', project: id, day, hours: 10, note: 'form' }, { name: 'ana' });
      await expectCode(() => shop.logHours({ student: 'ana', project: id, day, hours: 6.25 }, { name: 'ana' }), 'SHOP_HOURS_INVALID');
      shop.logHours({ student: 'ana', project: id, day, hours: 6 }, { name: 'ana' });
      for (const hours of [0, -1, 16.5, Number.NaN, 1.1]) await expectCode(() => shop.logHours({ student: 'bo', project: id, day, hours }, { name: 'bo' }), 'SHOP_HOURS_INVALID');
      await expectCode(() => shop.logHours({ student: 'bo', project: id, day: '2026-02-30', hours: 1 }, { name: 'bo' }), 'SHOP_HOURS_INVALID');
      await expectCode(() => shop.logHours({ student: 'bo', project: id, day: '2999-01-01', hours: 1 }, { name: 'bo' }), 'SHOP_HOURS_INVALID');
      await expectCode(() => shop.logHours({ student: 'zed', project: id, day, hours: 1 }, { name: 'zed' }), 'SHOP_HOURS_INVALID');
      shop.logHours({ student: 'bo', project: id, day: '2026-11-21', hours: 2.5, note: '=HYPERLINK("x")' }, { name: 'bo' });
      expect(shop.hours({ student: 'ana' }).reduce((n, e) => n + e.hours, 0)).to.equal(16);
    });

    it('reports per student and per project as CSV, safe for spreadsheets', () => {
      const [p] = shop.projects({ client: 'cleo' });
      const byStudent = shop.hoursCsv('student').split('\r\n');
      expect(byStudent[0]).to.equal('student,display_name,person_number,project_id,project,days,hours');
      expect(byStudent[1]).to.equal(`ana,Ana Lima,P-4711,${p!.id},Bakery order site!,1,16`);
      expect(byStudent[2]).to.equal(`bo,Bo Berg,,${p!.id},Bakery order site!,1,2.5`);
      const byProject = shop.hoursCsv('project', { from: '2026-11-21', to: '2026-11-30' }).split('\r\n');
      expect(byProject[0]).to.equal('project_id,project,team,student,days,hours');
      expect(byProject.slice(1).filter(Boolean)).to.deep.equal([`${p!.id},Bakery order site!,team-falcon,bo,1,2.5`]);
      expect(() => shop.hoursCsv('student', { from: 'yesterday' })).to.throw().with.property('code', 'INPUT_INVALID');
      expect(csvField('=HYPERLINK("x")')).to.equal(`"'=HYPERLINK(""x"")"`);
      expect(csvField('-2.5')).to.equal('-2.5');
      expect(csvField('a,b')).to.equal('"a,b"');
      expect(audit.query({ action: 'shop.hours.log' }).total).to.equal(3);
    });
  });
});
