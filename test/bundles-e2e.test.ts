/**
 * The offline update bundle round trip through the real `./outpost` command line: a key made
 * outside, trusted inside, a curriculum exported, imported, refused when tampered with, approved by
 * a staff member (and not by a student), applied and audited.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '../core/config.ts';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from '../server/bundles.ts';
import { makeTestConfigFile, removeTestInstance, runOutpost, writeTree } from './support.ts';

const run = promisify(execFile);

describe('./outpost bundle: export, import, approve (CLI round trip)', function () {
  this.timeout(5 * 60_000);
  let config: Config;
  let root: string;
  let file: string;
  const outpost = async (...args: string[]) => runOutpost(file, args);

  before(async () => {
    ({ config, root, file } = await makeTestConfigFile());
  });
  after(() => removeTestInstance(config, root));

  it('goes from a new key to an applied curriculum, refusing a tampered copy on the way', async () => {
    const keys = path.join(root, 'keys');
    const keygen = await outpost('bundle', 'keygen', keys);
    expect(keygen.code, keygen.stderr).to.equal(0);
    const fingerprint = /Fingerprint: ([0-9a-f ]+)/.exec(keygen.stdout)?.[1];
    expect(fingerprint).to.match(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);

    const trust = await outpost('bundle', 'trust', path.join(keys, PUBLIC_KEY_FILE), '--name', 'central');
    expect(trust.code, trust.stderr).to.equal(0);
    expect((await outpost('bundle', 'keys')).stdout).to.include(`central              ${fingerprint}`);

    const course = await writeTree(path.join(root, 'course'), {
      'curriculum.yaml': 'id: cli-course\ntitle: CLI course\nversion: 2\ntracks: [basics]\n',
      'basics/track.yaml': 'id: basics\ntitle: Basics\nmodules: [first]\n',
      'basics/first/module.yaml': 'id: first\ntitle: First\nitems:\n  - exercise: cli-echo\n',
      'basics/first/exercises/cli-echo/exercise.yaml': 'id: cli-echo\ntitle: Echo\nlanguage: python\ncommand: [python3, echo.py]\ngrader:\n  adapter: io\ncases:\n  - { name: echoes, stdin: "hi\\n", expected: "hi" }\n',
      'basics/first/exercises/cli-echo/README.md': 'Print what you read.\n',
      'basics/first/exercises/cli-echo/starter/echo.py': '# TODO\n',
      'basics/first/exercises/cli-echo/solution/echo.py': 'print(input())\n',
    });
    const bundle = path.join(root, 'update.tar');
    const exported = await outpost('bundle', 'export', bundle, '--key', path.join(keys, PRIVATE_KEY_FILE), '--curriculum', course, '--note', 'term 2');
    expect(exported.code, exported.stderr).to.equal(0);
    expect(exported.stdout).to.match(/curriculum cli-course \(7 files/);

    // The same bundle with one byte of the curriculum changed after signing.
    const tree = path.join(root, 'tampered');
    await mkdir(tree);
    await run('tar', ['-xf', bundle, '-C', tree]);
    const yaml = path.join(tree, 'payload', 'curriculum', 'cli-course', 'curriculum.yaml');
    await writeFile(yaml, (await readFile(yaml, 'utf8')).replace('version: 2', 'version: 3'));
    await run('tar', ['-cf', path.join(root, 'tampered.tar'), '-C', tree, 'manifest.json', 'manifest.sig', 'payload']);
    const refused = await outpost('bundle', 'import', path.join(root, 'tampered.tar'));
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/payload\/curriculum\/cli-course\/curriculum\.yaml does not match the checksum.*\[BUNDLE_CHECKSUM_MISMATCH\]/);
    expect((await outpost('bundle', 'list')).stdout).to.include('No bundle has been imported.');

    const imported = await outpost('bundle', 'import', bundle);
    expect(imported.code, imported.stderr).to.equal(0);
    expect(imported.stdout).to.include('Verified and staged as bundle #1');
    expect(imported.stdout).to.include('Nothing is applied yet.');
    expect((await outpost('bundle', 'list')).stdout).to.match(/#1\s+pending\s+central .*curriculum:cli-course .*term 2/);

    expect((await outpost('user', 'add', 'stan', '--role', 'staff')).code).to.equal(0);
    expect((await outpost('user', 'add', 'stu', '--role', 'student')).code).to.equal(0);
    const byStudent = await outpost('bundle', 'approve', '1', '--as', 'stu');
    expect(byStudent.code).to.equal(1);
    expect(byStudent.stderr).to.include('[AUTH_FORBIDDEN]');
    const usage = await outpost('bundle', 'approve', '1');
    expect(usage.code).to.equal(2);

    const approved = await outpost('bundle', 'approve', '1', '--as', 'stan', '--note', 'checked');
    expect(approved.code, approved.stdout + approved.stderr).to.equal(0);
    expect(approved.stdout).to.include('Bundle #1 was applied.');
    expect((await outpost('bundle', 'list')).stdout).to.match(/#1\s+applied/);
    expect((await outpost('curriculum', 'list')).stdout).to.include('cli-course  CLI course  version 2');
    const again = await outpost('bundle', 'approve', '1', '--as', 'stan');
    expect(again.stderr).to.include('[BUNDLE_STATE_INVALID]');
    expect((await outpost('bundle', 'reject', '9', '--as', 'stan', '--reason', 'no such')).stderr).to.include('[BUNDLE_NOT_FOUND]');

    const audit = await outpost('audit', 'verify');
    expect(audit.code, audit.stdout).to.equal(0);
  });
});
