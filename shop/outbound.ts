/**
 * What goes into an outbound package, and the checks staff see before anything leaves: a git bundle
 * of exactly one commit (made with the real git CLI from the bare repository): the delivered tree
 * under a new parentless commit with a neutral identity, so none of the team's history leaves; a
 * scan of what that commit carries (the tree's files and file names, its message and identity) for
 * students' personal data; and a summary of what changed since the last approved delivery.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { OutpostError } from '../core/errors.ts';
import { diffCommits, exportCommit, listCommits } from '../fake-internet/git/repos.ts';

const run = promisify(execFile);

/** Every git call reads repositories owned by the git server's uid, so ownership checks are waived for it alone. */
async function git(args: string[], cwd?: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run('git', ['-c', 'safe.directory=*', '-c', 'protocol.version=2', ...args], { ...(cwd ? { cwd } : {}), maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', ...env } });
  return stdout;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface Identity { name: string; email: string }

/**
 * A bundle holding one parentless commit of `commit`'s tree as branch `branch` (and HEAD), so
 * `git clone FILE` checks out exactly the delivered files and nothing of how they came to be: a
 * file committed and deleted again, or a student's name in an old author line, stays inside. The
 * commit gets `message`, `author` and `committer` (both dated `date`, UTC), all of which the
 * personal-data check has seen. Git needs a ref to bundle, and the team's repository is not ours
 * to write, so the delivered commit alone (depth 1) is first fetched into a throwaway bare
 * repository.
 */
export async function createBundle(input: { repoDir: string; commit: string; outFile: string; workDir: string; maxBytes: number; message: string; author: Identity; committer: Identity; date: Date; branch?: string }): Promise<{ size: number; sha256: string; commit: string }> {
  if (!/^[0-9a-f]{40}$/.test(input.commit)) throw new OutpostError('SHOP_PACKAGE_FAILED', `"${input.commit}" is not a full commit id.`);
  const branch = input.branch ?? 'main';
  await mkdir(input.workDir, { recursive: true });
  const temp = await mkdtemp(path.join(input.workDir, 'bundle-'));
  try {
    const repo = path.join(temp, 'repo.git');
    await git(['init', '--quiet', '--bare', repo]);
    // A local fetch runs upload-pack in the source repository with a clean environment (no `-c`),
    // so the ownership waiver must be on upload-pack's own command line.
    await git(['-C', repo, 'fetch', '--quiet', '--no-tags', '--depth=1', '--upload-pack', 'git -c safe.directory=* upload-pack', input.repoDir, `${input.commit}:refs/delivered`]);
    const tree = (await git(['-C', repo, 'rev-parse', '--verify', `${input.commit}^{tree}`])).trim();
    const messageFile = path.join(temp, 'MESSAGE');
    await writeFile(messageFile, input.message.endsWith('\n') ? input.message : `${input.message}\n`);
    const when = `@${Math.floor(input.date.getTime() / 1000)} +0000`;
    // The identity comes from here only: no user config may add a name, a signature or a trailer.
    const shipped = (await git(['-C', repo, 'commit-tree', '--no-gpg-sign', tree, '-F', messageFile], undefined, {
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_AUTHOR_NAME: input.author.name, GIT_AUTHOR_EMAIL: input.author.email, GIT_AUTHOR_DATE: when,
      GIT_COMMITTER_NAME: input.committer.name, GIT_COMMITTER_EMAIL: input.committer.email, GIT_COMMITTER_DATE: when,
    })).trim();
    await git(['-C', repo, 'update-ref', `refs/heads/${branch}`, shipped]);
    await git(['-C', repo, 'symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
    await mkdir(path.dirname(input.outFile), { recursive: true });
    await git(['-C', repo, 'bundle', 'create', '--quiet', input.outFile, 'HEAD', branch]);
    const { size } = await stat(input.outFile);
    if (size > input.maxBytes) {
      await rm(input.outFile, { force: true });
      throw new OutpostError('SHOP_PACKAGE_FAILED', `The bundle is ${Math.ceil(size / 1048576)} MiB, over the shop's limit of ${Math.floor(input.maxBytes / 1048576)} MiB (shop.maxBundleMiB).`);
    }
    return { size, sha256: await sha256File(input.outFile), commit: shipped };
  } catch (error) {
    if (error instanceof OutpostError) throw error;
    throw new OutpostError('SHOP_PACKAGE_FAILED', `git could not bundle commit ${input.commit.slice(0, 12)}: ${String((error as { stderr?: string }).stderr ?? (error as Error).message).trim().slice(0, 300)}`, { cause: error });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

export interface Person { name: string; displayName: string; externalId: string | null }

export interface Finding {
  /** A file of the commit, `(file names)`, `(release notes)` or `(bundle commit)` for its author and committer. */
  where: string;
  line: number | null;
  student: string;
  what: 'user name' | 'display name' | 'person number';
  excerpt: string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Matchers for one person: whole words, any case (a person number: exactly, anywhere). */
function matchersFor(p: Person): { what: Finding['what']; re: RegExp }[] {
  const word = (t: string) => new RegExp(`(?<![\\p{L}\\p{N}])${escapeRegExp(t)}(?![\\p{L}\\p{N}])`, 'iu');
  const out: { what: Finding['what']; re: RegExp }[] = [{ what: 'user name', re: word(p.name) }];
  if (p.displayName.trim().length >= 3) out.push({ what: 'display name', re: word(p.displayName.trim()) });
  if (p.externalId) out.push({ what: 'person number', re: new RegExp(escapeRegExp(p.externalId), 'i') });
  return out;
}

/**
 * Replaces every student's user name, display name and person number in `text` with "[redacted]":
 * what a client's read-only code view shows, since the code is read before staff have checked it.
 */
export function redactor(people: Person[]): (text: string) => string {
  const res = people.flatMap((p) => matchersFor(p).map((m) => new RegExp(m.re.source, `${m.re.flags}g`)));
  return (text) => res.reduce((t, re) => t.replace(re, '[redacted]'), text);
}

/** Scans lines of text for anyone's personal data; at most `max` findings. */
export function scanText(where: string, text: string, people: Person[], out: Finding[], max = 200): void {
  const all = people.map((p) => ({ p, m: matchersFor(p) }));
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && out.length < max; i++) {
    const line = lines[i]!;
    for (const { p, m } of all) {
      for (const { what, re } of m) {
        if (re.test(line) && out.length < max) out.push({ where, line: where.startsWith('(') ? null : i + 1, student: p.name, what, excerpt: line.trim().slice(0, 160) });
      }
    }
  }
}

async function filesUnder(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out.sort();
}

/**
 * Every student's user name, display name and person number in what the bundle carries of `commit`:
 * its files (text files up to 2 MiB; binary files are listed as not scanned) and every path in its
 * tree. The history is not scanned because it never ships (see createBundle); the commit message
 * and identity that do ship come in `extraText`.
 */
export async function scanCommit(input: { repoDir: string; commit: string; workDir: string; people: Person[]; extraText?: { where: string; text: string }[] }): Promise<{ findings: Finding[]; scanned: number; skipped: string[] }> {
  const findings: Finding[] = [];
  const skipped: string[] = [];
  await mkdir(input.workDir, { recursive: true });
  const temp = await mkdtemp(path.join(input.workDir, 'scan-'));
  let scanned = 0;
  try {
    const files = path.join(temp, 'files');
    const exported = await exportCommit(input.repoDir, input.commit, files, { maxBytes: 500 * 1024 * 1024 });
    skipped.push(...exported.skipped);
    for (const rel of await filesUnder(files)) {
      const full = path.join(files, rel);
      if ((await stat(full)).size > 2 * 1024 * 1024) { skipped.push(rel); continue; }
      const data = await readFile(full);
      if (data.subarray(0, 8000).includes(0)) { skipped.push(rel); continue; }
      scanned++;
      scanText(rel, data.toString('utf8'), input.people, findings);
    }
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  // From git rather than the export, so the names of entries the export skips (symlinks, submodules) count too.
  const paths = (await git(['--git-dir', input.repoDir, 'ls-tree', '-r', '-t', '--name-only', '-z', input.commit])).split('\0').filter(Boolean);
  scanText('(file names)', paths.join('\n'), input.people, findings);
  for (const extra of input.extraText ?? []) scanText(extra.where, extra.text, input.people, findings);
  return { findings, scanned, skipped };
}

export interface DiffSummary {
  from: string | null;
  to: string;
  files: { path: string; status: string; additions: number; deletions: number; binary: boolean }[];
  additions: number;
  deletions: number;
  truncated: boolean;
}

/** What changed since the last approved delivery (`from` null: the whole tree is new). */
export async function diffSummary(repoDir: string, from: string | null, to: string): Promise<DiffSummary> {
  const d = await diffCommits(repoDir, from, to, { maxFiles: 500 });
  return {
    from: d.from, to: d.to, additions: d.additions, deletions: d.deletions, truncated: d.truncated,
    files: d.files.map((f) => ({ path: f.path, status: f.status, additions: f.additions, deletions: f.deletions, binary: f.binary || f.tooLarge })),
  };
}

/** Release notes: the milestone, the commit, and the commit subjects since the last delivery. */
export async function releaseNotes(input: { repoDir: string; commit: string; base: string | null; project: string; milestone: string; team: string }): Promise<string> {
  const { commits } = await listCommits(input.repoDir, input.commit, { limit: 200 });
  const since: string[] = [];
  for (const c of commits) {
    if (c.oid === input.base) break;
    since.push(`- ${c.subject} (${c.oid.slice(0, 12)})`);
  }
  return [
    `# ${input.project}: ${input.milestone}`,
    '',
    `Delivered by ${input.team} (The Last Mile Works).`,
    `Commit: ${input.commit}`,
    input.base ? `Changes since the previous delivery (${input.base.slice(0, 12)}):` : 'Changes in this first delivery:',
    '',
    ...since,
    '',
    'Clone it with: git clone FILE.bundle',
    '',
  ].join('\n');
}
