/**
 * Git hosting end to end, with the stock git client inside real workspaces on the sealed network:
 * through the gateway's HTTPS (local CA) to the git server container. Two students work on one
 * repository with permission; everything without permission is refused; pushes are audited and
 * raise the push event; the token each workspace holds is its student's alone.
 */
import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startTestSystem, addStudents, text, type TestSystem } from './support.ts';
import { removeIsolation } from '../fake-internet/network.ts';
import type { PushEvent } from '../fake-internet/git/hosting.ts';

describe('git hosting, from inside real sandboxes', function () {
  this.timeout(10 * 60_000);
  let t: TestSystem;
  const subnetOctet = 100 + Math.floor(Math.random() * 150);
  const pushes: PushEvent[] = [];
  const sh = async (owner: string, script: string, timeoutSeconds = 120) => {
    const r = await t.system.sandbox.workspaces.exec(owner, { argv: ['bash', '-c', script], timeoutSeconds });
    return { code: r.exitCode, out: text(r.stdout), err: text(r.stderr) };
  };
  const ok = async (owner: string, script: string) => {
    const r = await sh(owner, `set -e\n${script}`);
    expect(r.code, `${script}\n${r.out}\n${r.err}`).to.equal(0);
    return r.out;
  };
  const actor = { name: 'test' };

  before(async () => {
    t = await startTestSystem({ fakeInternet: { enabled: true, subnet: `10.213.${subnetOctet}.0/24`, network: `outpost-test-git-${subnetOctet}-${process.pid}` }, git: { maxPushMiB: 1 } });
    const { accounts, git } = t.system;
    await addStudents(t.system, ['ana', 'ben']);
    await accounts.create({ name: 'ivy', role: 'instructor', password: 'Teaches-seven-days-7' }, actor);
    accounts.createCohort('c1', 'One', actor);
    accounts.addToCohort('c1', 'ana', actor);
    accounts.addToCohort('c1', 'ivy', actor);
    const template = path.join(t.root, 'template');
    await mkdir(path.join(template, 'src'), { recursive: true });
    await writeFile(path.join(template, 'README.md'), '# Hello\n\nStarter files.\n');
    await writeFile(path.join(template, 'src', 'index.js'), "console.log('hello');\n");
    await git.create({ owner: 'ana', name: 'hello', from: template, description: 'first project' }, actor);
    await git.create({ owner: 'ana', name: 'diary' }, actor);
    git.onPush((push) => pushes.push(push));
    await t.system.start();
  });

  after(async () => {
    if (t) {
      await t.system.fakeInternet?.down();
      await t.cleanup();
      await t.system.docker.getNetwork(t.config.fakeInternet.network).remove().catch(() => undefined);
      await removeIsolation(t.config.fakeInternet.network);
    }
  });

  it('gives each workspace its own git identity and a token only its student holds', async () => {
    const name = await ok('ana', 'git config user.name; git config user.email; git config init.defaultBranch');
    expect(name.trim().split('\n')).to.deep.equal(['ana', 'ana@git.outpost', 'main']);
    const anaCredentials = await ok('ana', 'cat /etc/outpost/git/credentials');
    const anaToken = /password=(\S+)/.exec(anaCredentials)?.[1];
    expect(anaToken).to.match(/^opt_/);
    const benCredentials = await ok('ben', 'cat /etc/outpost/git/credentials');
    expect(benCredentials).to.include('username=ben');
    // Ana's token is nowhere ben's workspace can read, and ben cannot change his own.
    const search = await sh('ben', `grep -rIl --exclude-dir=proc --exclude-dir=sys -e '${anaToken}' / 2>/dev/null | head -3; echo done`);
    expect(search.out.trim()).to.equal('done');
    const tamper = await sh('ben', 'echo x >> /etc/outpost/git/credentials');
    expect(tamper.code).to.not.equal(0);
  });

  it('clones a template repository over HTTPS, commits and pushes, and the push is audited and announced', async () => {
    await ok('ana', 'cd /workspace && git clone https://git.outpost/ana/hello.git && cd hello && test -f src/index.js && git log --oneline | wc -l');
    await ok('ana', 'cd /workspace/hello && echo "console.log(1)" >> src/index.js && git commit -qam "print one" && git push -q origin main 2>&1');
    const head = (await ok('ana', 'cd /workspace/hello && git rev-parse HEAD')).trim();
    const deadline = Date.now() + 15_000;
    while (!pushes.some((p) => p.updates.some((u) => u.new === head)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const push = pushes.find((p) => p.updates.some((u) => u.new === head));
    expect(push, JSON.stringify(pushes)).to.deep.include({ user: 'ana', owner: 'ana', name: 'hello' });
    expect(push!.updates[0]!.ref).to.equal('refs/heads/main');
    const audited = t.system.audit.query({ action: 'git.push' }).entries;
    expect(audited.some((e) => e.actor === 'ana' && e.target === 'ana/hello' && JSON.stringify(e.details).includes(head))).to.equal(true);
  });

  it('lets two students work on one repository with permission: branch, push, fetch, pull', async () => {
    const refused = await sh('ben', 'cd /workspace && git clone https://git.outpost/ana/hello.git 2>&1');
    expect(refused.code).to.not.equal(0);
    expect(refused.out).to.match(/not found/i);
    await t.system.git.setCollaborator('ana', 'hello', 'ben', 'write', actor);
    await ok('ben', 'cd /workspace && git clone -q https://git.outpost/ana/hello.git && cd hello && git switch -q -c feature && echo "# ben was here" > BEN.md && git add BEN.md && git commit -qm "ben adds a note" && git push -q -u origin feature 2>&1');
    await ok('ana', 'cd /workspace/hello && git fetch -q origin && git merge -q --no-edit origin/feature && test -f BEN.md && git push -q origin main 2>&1');
    await ok('ben', 'cd /workspace/hello && git switch -q main && git pull -q && test -f BEN.md && git log --oneline | grep -q "ben adds a note"');
    // Tutorials say github.com: the alias reaches the same repository.
    await ok('ben', 'cd /tmp && git clone -q https://github.com/ana/hello alias && test -f alias/BEN.md');
  });

  it("refuses a push to someone else's repository and an anonymous clone of a private one", async () => {
    const push = await sh('ben', 'cd /tmp && git init -q x && cd x && git commit -q --allow-empty -m x && git push https://git.outpost/ana/diary.git HEAD:main 2>&1');
    expect(push.code).to.not.equal(0);
    expect(push.out).to.match(/not found/i);
    await t.system.git.setCollaborator('ana', 'diary', 'ben', 'read', actor);
    const readOnly = await sh('ben', 'cd /tmp/x && git push https://git.outpost/ana/diary.git HEAD:main 2>&1');
    expect(readOnly.code).to.not.equal(0);
    expect(readOnly.out).to.match(/may read ana\/diary but not push/);
    const anonymous = await sh('ana', 'cd /tmp && GIT_CONFIG_SYSTEM=/dev/null GIT_TERMINAL_PROMPT=0 git clone https://git.outpost/ana/hello.git anon 2>&1');
    expect(anonymous.code).to.not.equal(0);
    expect(anonymous.out).to.match(/Authentication failed|could not read Username|401/i);
  });

  it('refuses an oversize push with a clear message and leaves the repository as it was', async () => {
    const before = (await ok('ana', 'git ls-remote https://git.outpost/ana/hello.git refs/heads/main')).trim();
    const r = await sh('ana', 'cd /workspace/hello && head -c 3000000 /dev/urandom > big.bin && git add big.bin && git commit -qm big && git push origin main 2>&1');
    expect(r.code).to.not.equal(0);
    expect(r.out).to.match(/pack exceeds maximum allowed size/);
    expect((await ok('ana', 'git ls-remote https://git.outpost/ana/hello.git refs/heads/main')).trim()).to.equal(before);
  });

  it('keeps one branch consistent when two workspaces push to it at the same moment', async () => {
    await t.system.git.create({ owner: 'ana', name: 'race' }, actor);
    await t.system.git.setCollaborator('ana', 'race', 'ben', 'write', actor);
    await ok('ana', 'cd /tmp && git clone -q https://git.outpost/ana/race.git && cd race && echo base > base.txt && git add . && git commit -qm base && git push -q origin main 2>&1');
    for (const who of ['ana', 'ben']) {
      await ok(who, `cd /tmp && rm -rf race-${who} && git clone -q https://git.outpost/ana/race.git race-${who} && cd race-${who} && echo ${who} > ${who}.txt && git add . && git commit -qm "${who} was here"`);
    }
    const [a, b] = await Promise.all(['ana', 'ben'].map((who) => sh(who, `cd /tmp/race-${who} && git push origin main 2>&1`)));
    expect([a!.code, b!.code].filter((c) => c === 0)).to.have.length(1);
    const loser = a!.code === 0 ? b! : a!;
    expect(loser.out).to.match(/rejected|failed to update ref|fetch first|cannot lock ref/);
    const winner = a!.code === 0 ? 'ana' : 'ben';
    const tip = (await ok('ana', 'git ls-remote https://git.outpost/ana/race.git refs/heads/main')).split('\t')[0];
    expect(tip).to.equal((await ok(winner, `cd /tmp/race-${winner} && git rev-parse HEAD`)).trim());
    await ok('ana', 'cd /tmp && rm -rf check && git clone -q https://git.outpost/ana/race.git check && cd check && git fsck --no-progress 2>&1');
  });

  it('refuses malformed pkt-lines and hostile names sent from a workspace, and keeps serving', async () => {
    const auth = `-u "ana:$(sed -n 's/^password=//p' /etc/outpost/git/credentials)"`;
    const garbage = await sh('ana', `curl -s -o /dev/null -w "%{http_code}" ${auth} -H "Content-Type: application/x-git-upload-pack-request" --data-binary "zzzz not a pkt-line" https://git.outpost/ana/hello.git/git-upload-pack`);
    expect(garbage.out).to.equal('400');
    for (const hostile of ['/ana/..%2fhello.git/info/refs?service=git-upload-pack', '/ana/hello.git/objects/info/packs', '/ana/hello.git/info/refs?service=git-upload-archive', '/../../etc/passwd']) {
      const r = await sh('ana', `curl -s -o /dev/null -w "%{http_code}" --path-as-is ${auth} "https://git.outpost${hostile}"`);
      expect(r.out, hostile).to.match(/^(400|404)$/);
    }
    await ok('ana', 'git ls-remote https://git.outpost/ana/hello.git >/dev/null');
  });

  it('keeps the git server itself off the network: only the gateway reaches it', async () => {
    const { git } = t.system.fakeInternet!.addresses;
    const direct = await sh('ana', `curl -s -m 3 -o /dev/null -w "%{http_code}" http://${git}:8080/ana/hello.git/info/refs?service=git-upload-pack; echo " exit $?"`);
    expect(direct.out.trim()).to.match(/^000 exit (7|28)$/);
  });
});
