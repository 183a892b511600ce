/**
 * Offline update bundles: how new images, mirrored sites, npm packages and curriculum reach a
 * facility with no internet (docs/bundles.md).
 *
 * Outside, `bundle export` writes one tar: `manifest.json` (every file of `payload/` with its
 * SHA-256 and size), `manifest.sig` (an ed25519 signature over the manifest's exact bytes) and
 * `payload/`. Inside, `bundle import` checks the archive's listing before anything is written
 * (regular files and directories only, no absolute paths, no "..", no entry twice), extracts it
 * into a staging folder under the data directory, and accepts it only when the signature verifies
 * with a publisher key staff trusted, every listed file is there with its checksum, and no file is
 * unlisted. It is then `pending`: nothing is applied until a staff member approves it, and approval
 * checks the staged files again before applying each item. Every step is audited.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tar from 'tar';
import { z } from 'zod';
import type { Actor } from '../core/accounts.ts';
import type { AuditLog } from '../core/audit.ts';
import { OutpostError, asOutpostError, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Migration } from '../core/migrations.ts';
import type { Store } from '../core/store.ts';
import type { Catalog } from '../curriculum/catalog.ts';
import { loadCurriculum } from '../curriculum/schema.ts';
import { hostSchema, pathPrefixSchema, siteNameSchema, type MirrorStore } from '../fake-internet/mirrors/store.ts';
import { isValidPackageName } from '../fake-internet/registry/names.ts';
import type { PackageMirror } from '../fake-internet/registry/packages.ts';

export const BUNDLE_FORMAT = 1;

export const bundleMigrations: readonly Migration[] = [
  {
    version: 70,
    name: 'offline update bundles',
    sql: `
      create table bundle_keys (
        name text primary key,
        fingerprint text not null unique,
        public_key text not null,
        added_at text not null,
        added_by text not null
      );
      create table bundles (
        id integer primary key,
        status text not null check (status in ('pending', 'applying', 'applied', 'failed', 'rejected')),
        source text not null,
        source_sha256 text not null,
        bytes integer not null,
        staging_dir text not null,
        manifest text not null,
        signature text not null,
        publisher text not null,
        fingerprint text not null,
        units text not null,
        staged_at text not null,
        staged_by text not null,
        decided_at text,
        decided_by text,
        decision_note text,
        results text not null default '[]'
      );
    `,
  },
];

export const ITEM_KINDS = ['image', 'mirror', 'packages', 'curriculum'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

export interface BundleItem {
  kind: ItemKind;
  /** The image reference, mirror site name, npm package name or curriculum id the file belongs to. */
  name: string;
  /** Where the file is in the archive: always under `payload/`. */
  path: string;
  sha256: string;
  bytes: number;
}

export interface BundleManifest {
  format: number;
  createdAt: string;
  outpostVersion: string;
  /** sha256 of the signing key's raw ed25519 public key, hex. */
  publisherFingerprint: string;
  note: string;
  items: BundleItem[];
}

/** What one approval applies as a whole: an image, a site, the npm packages, a curriculum. */
export interface BundleUnit {
  kind: ItemKind;
  name: string;
  files: number;
  bytes: number;
  /** For a site: where it is served (https://host/prefix/). */
  detail?: string;
}

export interface UnitResult {
  /** 'verification' when the staged files no longer checked out and nothing was applied. */
  kind: ItemKind | 'verification';
  name: string;
  status: 'applied' | 'failed';
  detail: string;
  code?: ErrorCode;
}

export type BundleStatus = 'pending' | 'applying' | 'applied' | 'failed' | 'rejected';

export interface BundleRecord {
  id: number;
  status: BundleStatus;
  source: string;
  sourceSha256: string;
  bytes: number;
  manifest: BundleManifest;
  publisher: { name: string; fingerprint: string };
  units: BundleUnit[];
  stagedAt: string;
  stagedBy: string;
  decidedAt: string | null;
  decidedBy: string | null;
  /** The approver's note, or the reason it was rejected. */
  decisionNote: string | null;
  results: UnitResult[];
}

export interface TrustedKey {
  name: string;
  fingerprint: string;
  publicKey: string;
  addedAt: string;
  addedBy: string;
}

export interface ExportOptions {
  /** The publisher's ed25519 private key (PEM). */
  privateKeyFile: string;
  /** Image references to `docker save` (the CLI's --images gives Outpost's own). */
  images?: readonly string[];
  mirrors?: readonly string[];
  packages?: boolean;
  /** A curriculum folder; validated before it is packed. */
  curriculum?: string;
  note?: string;
  onProgress?: (line: string) => void;
}

export interface ExportReport {
  file: string;
  bytes: number;
  manifest: BundleManifest;
  units: BundleUnit[];
}

/** Who decides: at the console, the staff account named with --as, and the console user it ran as. */
export interface BundleActor extends Actor {
  via?: string;
}

export interface Bundles {
  trust(publicKeyPem: string, name: string, actor: Actor): TrustedKey;
  untrust(name: string, actor: Actor): void;
  keys(): TrustedKey[];
  export(file: string, options: ExportOptions): Promise<ExportReport>;
  /** Verifies a bundle and stages it as pending; refuses (and audits) anything that does not check out. */
  import(file: string, actor: Actor): Promise<BundleRecord>;
  list(): BundleRecord[];
  get(id: number): BundleRecord;
  /** Checks the staged files again, then applies every unit; the record says what each did. */
  approve(id: number, actor: BundleActor, options?: { note?: string; onProgress?: (line: string) => void }): Promise<BundleRecord>;
  reject(id: number, actor: BundleActor, reason: string): Promise<BundleRecord>;
}

export interface BundlesDeps {
  store: Store;
  audit: AuditLog;
  dataDir: string;
  log: Logger;
  /** Outpost's version, written into exported manifests. */
  version: string;
  /** Images a bundle may carry are named under this repository (config.images.repository). */
  imagesRepository: string;
  /** Needed to export or apply images; the console's key and staging commands do without. */
  docker?: Dockerode;
  catalog?: Catalog;
  /** The fake internet's mirrors and npm mirror; absent when it is switched off. */
  mirrors?: MirrorStore;
  packages?: PackageMirror;
  /** Tells running services about changed sites (zone, certificates, gateway routes). */
  onMirrorsChanged?: () => Promise<void>;
}

// ---------------------------------------------------------------- keys

/** sha256 of the raw 32-byte ed25519 public key, hex: what staff compare with the publisher's. */
export function keyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const raw = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url');
  return createHash('sha256').update(raw).digest('hex');
}

/** A fingerprint in groups of four, as people read it aloud to compare. */
export function formatFingerprint(hex: string): string {
  return hex.match(/.{1,4}/g)?.join(' ') ?? hex;
}

export const PRIVATE_KEY_FILE = 'outpost-bundle-signing.key';
export const PUBLIC_KEY_FILE = 'outpost-bundle-signing.pub.pem';

/** Makes a publisher key pair in `dir` (on the outside machine); never overwrites one. */
export async function generateSigningKeys(dir: string): Promise<{ privateKeyFile: string; publicKeyFile: string; fingerprint: string }> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  await mkdir(dir, { recursive: true });
  const privateKeyFile = path.join(dir, PRIVATE_KEY_FILE);
  const publicKeyFile = path.join(dir, PUBLIC_KEY_FILE);
  const write = (file: string, text: string, mode: number) => writeFile(file, text, { mode, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw new OutpostError('BUNDLE_KEY_EXISTS', `${file} already exists; a key pair is never overwritten. Choose another folder, or keep using that key.`);
    throw error;
  });
  await write(privateKeyFile, String(privateKey.export({ type: 'pkcs8', format: 'pem' })), 0o600);
  await write(publicKeyFile, String(publicKey.export({ type: 'spki', format: 'pem' })), 0o644);
  return { privateKeyFile, publicKeyFile, fingerprint: keyFingerprint(publicKey) };
}

function readPrivateKey(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new OutpostError('BUNDLE_KEY_INVALID', `${file} is not a private key in PEM format (${(error as Error).message}). Make one with ./outpost bundle keygen DIR.`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new OutpostError('BUNDLE_KEY_INVALID', `${file} is a ${key.asymmetricKeyType ?? 'unknown'} key; bundles are signed with ed25519 keys (./outpost bundle keygen DIR).`);
  return key;
}

function readPublicKey(pem: string): KeyObject {
  // createPublicKey would also accept a private key and derive its public half: refuse it, the
  // private key must never be copied inside.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new OutpostError('BUNDLE_KEY_INVALID', 'That is a private key. Trust the public key file (outpost-bundle-signing.pub.pem); the private key stays on the outside machine.');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new OutpostError('BUNDLE_KEY_INVALID', `Not a public key in PEM format (${(error as Error).message}). Give the .pub.pem file that ./outpost bundle keygen wrote.`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new OutpostError('BUNDLE_KEY_INVALID', `That is a ${key.asymmetricKeyType ?? 'unknown'} key; bundle keys are ed25519 (./outpost bundle keygen DIR).`);
  return key;
}

// ---------------------------------------------------------------- the manifest

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex');
const payloadPath = z
  .string()
  .max(4096)
  .regex(/^payload\/[^\0\\]+$/, 'a path under payload/')
  .refine((p) => !p.endsWith('/') && p.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'), 'a plain relative path (no empty, "." or ".." parts)');

const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  createdAt: z.string().min(1).max(64),
  outpostVersion: z.string().min(1).max(64),
  publisherFingerprint: sha256Hex,
  note: z.string().max(4000),
  items: z.array(z.object({ kind: z.enum(ITEM_KINDS), name: z.string().min(1).max(214), path: payloadPath, sha256: sha256Hex, bytes: z.number().int().min(0) })).min(1).max(1_000_000),
});

const siteFileSchema = z.object({ host: hostSchema, pathPrefix: pathPrefixSchema, extensionless: z.boolean() });
const IMAGE_REF = /^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9._-]{1,128}$/;
const CURRICULUM_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

const imageFile = (name: string) => `payload/images/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.tar`;
const unitRoot = (kind: ItemKind, name: string) =>
  kind === 'mirror' ? `payload/mirrors/${name}/` : kind === 'curriculum' ? `payload/curriculum/${name}/` : kind === 'packages' ? 'payload/packages/' : imageFile(name);

/**
 * The manifest's items must each sit where their kind says, so applying one reads only its own
 * files; a name must be one Outpost can apply.
 */
function checkManifest(manifest: BundleManifest, imagesRepository: string): void {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const item of manifest.items) {
    if (seen.has(item.path)) problems.push(`${item.path} is listed twice`);
    seen.add(item.path);
    const where = `${item.kind} "${item.name}" (${item.path})`;
    if (item.kind === 'image') {
      if (!IMAGE_REF.test(item.name) || !item.name.startsWith(`${imagesRepository}/`)) problems.push(`${where}: an image must be named ${imagesRepository}/NAME:TAG (images.repository)`);
      else if (item.path !== imageFile(item.name)) problems.push(`${where}: an image's file is ${imageFile(item.name)}`);
    } else if (item.kind === 'mirror') {
      if (!siteNameSchema.safeParse(item.name).success) problems.push(`${where}: not a mirror site name`);
      else if (item.path !== `${unitRoot('mirror', item.name)}site.json` && !item.path.startsWith(`${unitRoot('mirror', item.name)}files/`)) problems.push(`${where}: a site's files are under ${unitRoot('mirror', item.name)}`);
    } else if (item.kind === 'packages') {
      if (!isValidPackageName(item.name)) problems.push(`${where}: not an npm package name`);
      else if (!item.path.startsWith(`payload/packages/${item.name}/`) || item.path.slice(`payload/packages/${item.name}/`.length).includes('/')) problems.push(`${where}: a package's files are directly under payload/packages/${item.name}/`);
    } else if (!CURRICULUM_ID.test(item.name)) problems.push(`${where}: not a curriculum id`);
    else if (!item.path.startsWith(unitRoot('curriculum', item.name))) problems.push(`${where}: a curriculum's files are under ${unitRoot('curriculum', item.name)}`);
  }
  for (const unit of unitsOf(manifest.items)) {
    if (unit.kind === 'mirror' && !seen.has(`${unitRoot('mirror', unit.name)}site.json`)) problems.push(`mirror "${unit.name}" has no site.json`);
  }
  if (problems.length) {
    throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The bundle's manifest is not one Outpost can apply: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}.`, { details: { problems: problems.slice(0, 50) } });
  }
}

function unitsOf(items: readonly BundleItem[]): BundleUnit[] {
  const units = new Map<string, BundleUnit>();
  for (const item of items) {
    // The npm packages go in as one: their dependency trees span packages.
    const name = item.kind === 'packages' ? 'npm' : item.name;
    const key = `${item.kind}\0${name}`;
    const unit = units.get(key) ?? { kind: item.kind, name, files: 0, bytes: 0 };
    unit.files++;
    unit.bytes += item.bytes;
    units.set(key, unit);
  }
  const order = (kind: ItemKind) => ITEM_KINDS.indexOf(kind);
  return [...units.values()].sort((a, b) => order(a.kind) - order(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------- files

async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Every regular file under `root`, relative POSIX paths; anything that is not a file or directory is refused. */
async function walkFiles(root: string, onOther: (rel: string, what: string) => never): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string, rel: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await visit(path.join(dir, entry.name), childRel);
      else if (entry.isFile()) out.push(childRel);
      else onOther(childRel, entry.isSymbolicLink() ? 'a symbolic link' : 'a special file');
    }
  };
  await visit(root, '');
  return out.sort();
}

/** Copies the regular files of a tree; links and special files are skipped (they have no place in a bundle). */
async function copyRegularFiles(from: string, to: string): Promise<number> {
  let copied = 0;
  const visit = async (dir: string, target: string) => {
    await mkdir(target, { recursive: true });
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) await visit(path.join(dir, entry.name), path.join(target, entry.name));
      else if (entry.isFile()) {
        await copyFile(path.join(dir, entry.name), path.join(target, entry.name));
        copied++;
      }
    }
  };
  await visit(from, to);
  return copied;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const TOP_LEVEL = new Set(['manifest.json', 'manifest.sig', 'payload']);

/**
 * Reads the archive's listing and refuses, before anything is written, every entry that could
 * land outside the staging folder or be anything but a plain file or folder.
 */
async function checkListing(file: string): Promise<void> {
  const seen = new Set<string>();
  let problem: OutpostError | undefined;
  const unsafe = (entry: string, why: string) => new OutpostError('BUNDLE_UNSAFE_ENTRY', `The bundle ${file} is refused: its entry "${entry}" ${why}. Nothing was extracted or applied.`, { details: { entry } });
  const check = (entry: tar.ReadEntry) => {
    if (problem !== undefined) return;
    const raw = entry.path;
    if (raw.startsWith('/') || /^[a-zA-Z]:/.test(raw) || raw.includes('\\') || raw.includes('\0')) { problem = unsafe(raw, 'has an absolute or non-POSIX path'); return; }
    const parts = raw.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.includes('..')) { problem = unsafe(raw, 'climbs out with ".."'); return; }
    const isFile = FILE_TYPES.has(entry.type);
    if (!isFile && entry.type !== 'Directory') {
      const what = entry.type === 'SymbolicLink' ? 'a symbolic link' : entry.type === 'Link' ? 'a hard link' : `a ${entry.type}`;
      problem = unsafe(raw, `is ${what}; a bundle holds only files and folders`);
      return;
    }
    const name = parts.join('/');
    if (name === '') return;
    if (seen.has(name)) { problem = unsafe(raw, 'appears twice (a later copy would replace the checked one)'); return; }
    seen.add(name);
    if (!TOP_LEVEL.has(parts[0]!)) { problem = new OutpostError('BUNDLE_CONTENTS_MISMATCH', `The bundle ${file} is refused: "${raw}" is not part of a bundle (only manifest.json, manifest.sig and payload/).`, { details: { entry: raw } }); return; }
    if (((name === 'manifest.json' || name === 'manifest.sig') && !isFile) || (name === 'payload' && isFile)) problem = unsafe(raw, 'has the wrong type');
  };
  try {
    await tar.list({ file, strict: true, onReadEntry: check });
  } catch (error) {
    throw new OutpostError('BUNDLE_INVALID', `${file} cannot be read as a bundle (a tar file): ${(error as Error).message}.`, { cause: error });
  }
  if (problem !== undefined) throw problem;
}

// ---------------------------------------------------------------- the service

interface BundleRow {
  id: number; status: BundleStatus; source: string; source_sha256: string; bytes: number; staging_dir: string; manifest: string; signature: string;
  publisher: string; fingerprint: string; units: string; staged_at: string; staged_by: string; decided_at: string | null; decided_by: string | null; decision_note: string | null; results: string;
}
interface KeyRow { name: string; fingerprint: string; public_key: string; added_at: string; added_by: string }

const toKey = (row: KeyRow): TrustedKey => ({ name: row.name, fingerprint: row.fingerprint, publicKey: row.public_key, addedAt: row.added_at, addedBy: row.added_by });
const toRecord = (row: BundleRow): BundleRecord => ({
  id: row.id, status: row.status, source: row.source, sourceSha256: row.source_sha256, bytes: row.bytes,
  manifest: JSON.parse(row.manifest) as BundleManifest, publisher: { name: row.publisher, fingerprint: row.fingerprint }, units: JSON.parse(row.units) as BundleUnit[],
  stagedAt: row.staged_at, stagedBy: row.staged_by, decidedAt: row.decided_at, decidedBy: row.decided_by, decisionNote: row.decision_note, results: JSON.parse(row.results) as UnitResult[],
});

const KEY_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function createBundles(deps: BundlesDeps): Bundles {
  const { store, audit, log } = deps;
  const { db } = store;
  const bundlesDir = path.join(deps.dataDir, 'bundles');
  const applying = new Set<number>();

  const keyRows = () => db.prepare('select * from bundle_keys order by name').all() as KeyRow[];
  const row = (id: number) => db.prepare('select * from bundles where id = ?').get(id) as BundleRow | undefined;
  const requireRow = (id: number): BundleRow => {
    const found = Number.isInteger(id) && id > 0 ? row(id) : undefined;
    if (!found) throw new OutpostError('BUNDLE_NOT_FOUND', `There is no bundle #${String(id)}. ./outpost bundle list (or /admin/bundles) shows them.`, { details: { id } });
    return found;
  };

  /** The trusted key that signed these bytes; or why none did. */
  function signer(manifestBytes: Buffer, signatureText: string): KeyRow {
    const signature = Buffer.from(signatureText.trim(), 'base64');
    if (signature.length !== 64) throw new OutpostError('BUNDLE_SIGNATURE_INVALID', 'The bundle\'s manifest.sig is not an ed25519 signature (64 bytes, base64). The bundle was damaged or not made by ./outpost bundle export.');
    const keys = keyRows();
    const found = keys.find((key) => verify(null, manifestBytes, createPublicKey(key.public_key), signature));
    if (found) return found;
    let claimed: unknown;
    try { claimed = (JSON.parse(manifestBytes.toString('utf8')) as { publisherFingerprint?: unknown }).publisherFingerprint; } catch { claimed = undefined; }
    const claimedKey = keys.find((key) => key.fingerprint === claimed);
    if (claimedKey) {
      throw new OutpostError('BUNDLE_SIGNATURE_INVALID', `The bundle's signature does not match its manifest for the key "${claimedKey.name}": the manifest or its signature was changed after signing. Do not use this bundle; ask the publisher for a new one.`, { details: { key: claimedKey.name } });
    }
    const fingerprint = typeof claimed === 'string' && /^[0-9a-f]{64}$/.test(claimed) ? claimed : undefined;
    throw new OutpostError(
      'BUNDLE_KEY_UNKNOWN',
      `The bundle is not signed by a trusted publisher key${fingerprint ? ` (it names the key ${formatFingerprint(fingerprint)})` : ''}. If the publisher's fingerprint, checked with them in person, matches, trust their public key with ./outpost bundle trust PUBKEY.pem --name NAME; ./outpost bundle keys lists the trusted ones.`,
      { details: fingerprint ? { fingerprint } : {} },
    );
  }

  function parseManifest(bytes: Buffer): BundleManifest {
    let value: unknown;
    try { value = JSON.parse(bytes.toString('utf8')); } catch (error) {
      throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The bundle's manifest.json is not JSON: ${(error as Error).message}.`, { cause: error });
    }
    const parsed = manifestSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The bundle's manifest.json is malformed: ${issue.path.join('.') || 'manifest'}: ${issue.message}.`, { details: { issues: parsed.error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message })) } });
    }
    const manifest = parsed.data;
    checkManifest(manifest, deps.imagesRepository);
    return manifest;
  }

  /** Every listed file is there with its size and checksum, and nothing else is. */
  async function checkPayload(staging: string, manifest: BundleManifest): Promise<void> {
    const payloadDir = path.join(staging, 'payload');
    const present = await lstat(payloadDir).then((s) => s.isDirectory(), () => false)
      ? await walkFiles(payloadDir, (rel, what) => { throw new OutpostError('BUNDLE_UNSAFE_ENTRY', `payload/${rel} is ${what}; a bundle holds only files and folders.`, { details: { entry: `payload/${rel}` } }); })
      : [];
    const listed = new Set(manifest.items.map((item) => item.path));
    const found = new Set(present.map((rel) => `payload/${rel}`));
    const extra = [...found].filter((p) => !listed.has(p));
    const missing = [...listed].filter((p) => !found.has(p));
    if (extra.length || missing.length) {
      const say = (what: string, list: string[]) => (list.length ? `${what}: ${list.slice(0, 5).join(', ')}${list.length > 5 ? ` (and ${list.length - 5} more)` : ''}` : '');
      throw new OutpostError('BUNDLE_CONTENTS_MISMATCH', `The bundle's files do not match its manifest (${[say('not listed', extra), say('missing', missing)].filter(Boolean).join('; ')}). Nothing was applied; ask the publisher for a new bundle.`, { details: { extra: extra.slice(0, 50), missing: missing.slice(0, 50) } });
    }
    for (const item of manifest.items) {
      const file = path.join(staging, ...item.path.split('/'));
      const size = (await stat(file)).size;
      const digest = size === item.bytes ? await fileSha256(file) : undefined;
      if (digest !== item.sha256) {
        throw new OutpostError('BUNDLE_CHECKSUM_MISMATCH', `${item.path} does not match the checksum in the signed manifest${size !== item.bytes ? ` (${size} bytes, the manifest says ${item.bytes})` : ''}: the file was changed or damaged. Nothing was applied.`, { details: { path: item.path } });
      }
    }
  }

  async function extract(file: string, staging: string): Promise<void> {
    await tar.extract({
      file, cwd: staging, strict: true, preserveOwner: false, preservePaths: false,
      // Refused again at extraction: whatever the listing check missed is still never written.
      filter: (_entryPath, entry) => 'type' in entry && (FILE_TYPES.has(entry.type) || entry.type === 'Directory'),
    }).catch((error: unknown) => {
      throw new OutpostError('BUNDLE_INVALID', `${file} could not be extracted: ${(error as Error).message}. Check the free space under ${bundlesDir}.`, { cause: error });
    });
    // Modes from the archive are not trusted (no setuid bits, nothing writable by others).
    const normalize = async (dir: string): Promise<void> => {
      await chmod(dir, 0o755);
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await normalize(full);
        else if (entry.isFile()) await chmod(full, 0o644);
      }
    };
    await normalize(staging);
  }

  /** Things a manifest cannot say by checksums alone: a site's metadata, a curriculum's validity. */
  async function describeUnits(staging: string, manifest: BundleManifest): Promise<BundleUnit[]> {
    const units = unitsOf(manifest.items);
    for (const unit of units) {
      if (unit.kind === 'mirror') {
        const file = path.join(staging, 'payload', 'mirrors', unit.name, 'site.json');
        let site: z.infer<typeof siteFileSchema>;
        try { site = siteFileSchema.parse(JSON.parse(await readFile(file, 'utf8'))); } catch (error) {
          throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The site.json of mirror "${unit.name}" is malformed: ${(error as Error).message.slice(0, 300)}.`, { cause: error });
        }
        unit.detail = `https://${site.host}${site.pathPrefix}`;
      }
      if (unit.kind === 'curriculum') {
        const curriculum = await loadCurriculum(path.join(staging, 'payload', 'curriculum', unit.name));
        if (curriculum.id !== unit.name) throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The curriculum in payload/curriculum/${unit.name}/ has the id "${curriculum.id}"; the folder must be named after it.`);
        unit.detail = `${curriculum.title}, version ${curriculum.version}`;
      }
    }
    return units;
  }

  async function verifyStaged(staging: string, manifestBytes: Buffer, signatureText: string): Promise<{ key: KeyRow; manifest: BundleManifest }> {
    const key = signer(manifestBytes, signatureText);
    const manifest = parseManifest(manifestBytes);
    if (manifest.publisherFingerprint !== key.fingerprint) {
      throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The manifest names the publisher key ${formatFingerprint(manifest.publisherFingerprint)} but is signed by "${key.name}" (${formatFingerprint(key.fingerprint)}).`);
    }
    await checkPayload(staging, manifest);
    return { key, manifest };
  }

  function setStatus(id: number, status: BundleStatus, fields: { results?: UnitResult[]; decidedBy?: string; note?: string | null } = {}): void {
    db.prepare(`update bundles set status = @status, results = coalesce(@results, results),
      decided_at = case when @decidedBy is null then decided_at else @now end, decided_by = coalesce(@decidedBy, decided_by),
      decision_note = case when @decidedBy is null then decision_note else @note end where id = @id`)
      .run({ id, status, results: fields.results ? JSON.stringify(fields.results) : null, decidedBy: fields.decidedBy ?? null, note: fields.note ?? null, now: new Date().toISOString() });
  }

  async function applyUnit(id: number, unit: BundleUnit, staging: string, actor: Actor): Promise<string> {
    const payload = path.join(staging, 'payload');
    if (unit.kind === 'image') {
      const docker = deps.docker;
      if (!docker) throw new OutpostError('ENGINE_UNAVAILABLE', 'Loading an image needs the Docker engine.');
      const file = path.join(staging, ...imageFile(unit.name).split('/'));
      const tags = await savedImageTags(file);
      if (tags.length === 0 || tags.some((tag) => tag !== unit.name)) {
        throw new OutpostError('BUNDLE_MANIFEST_INVALID', `The image file for ${unit.name} carries the tags ${tags.join(', ') || '(none)'}; it may carry only ${unit.name}. It was not loaded.`);
      }
      const response = await docker.loadImage(createReadStream(file), { quiet: true });
      const output = await streamText(response);
      const failure = output.split('\n').map((line) => { try { return (JSON.parse(line) as { error?: string }).error; } catch { return undefined; } }).find((e) => e !== undefined);
      if (failure !== undefined) throw new OutpostError('IMAGE_BUILD_FAILED', `docker load of ${unit.name} failed: ${failure}`);
      const image = await docker.getImage(unit.name).inspect();
      return `loaded ${unit.name} (${image.Id.slice(7, 19)})`;
    }
    if (unit.kind === 'mirror') {
      if (!deps.mirrors) throw new OutpostError('SERVICE_UNAVAILABLE', 'The fake internet is switched off (fakeInternet.enabled is false), so a mirrored site cannot be imported.');
      const dir = path.join(payload, 'mirrors', unit.name);
      const site = siteFileSchema.parse(JSON.parse(await readFile(path.join(dir, 'site.json'), 'utf8')));
      const files = path.join(dir, 'files');
      await mkdir(files, { recursive: true });
      const report = await deps.mirrors.importSite({ name: unit.name, host: site.host, pathPrefix: site.pathPrefix, extensionless: site.extensionless, from: files, source: `bundle #${id}, approved by ${actor.name}` });
      return `https://${report.host}${report.pathPrefix}: ${report.files} files, ${report.pages} pages indexed`;
    }
    if (unit.kind === 'packages') {
      if (!deps.packages) throw new OutpostError('SERVICE_UNAVAILABLE', 'The fake internet is switched off (fakeInternet.enabled is false), so npm packages cannot be added to its mirror.');
      const result = await deps.packages.importFrom(path.join(payload, 'packages'));
      return result.tarballs === 0 ? 'no new package versions (the mirror had them all)' : `${result.tarballs} new package versions`;
    }
    if (!deps.catalog) throw new OutpostError('SERVICE_UNAVAILABLE', 'Importing a curriculum needs the grader (the full system).');
    const report = await deps.catalog.import(path.join(payload, 'curriculum', unit.name), actor);
    const counts = { new: 0, changed: 0, unchanged: 0 };
    for (const e of report.exercises) counts[e.status]++;
    return `${report.curriculum} (${report.hash.slice(0, 12)}): ${counts.new} new, ${counts.changed} changed, ${counts.unchanged} unchanged exercises${report.retired.length ? `, retired ${report.retired.join(', ')}` : ''}`;
  }

  const bundles: Bundles = {
    trust(publicKeyPem, name, actor) {
      if (!KEY_NAME.test(name)) throw new OutpostError('INPUT_INVALID', `"${name}" is not a key name: use 1 to 63 lower-case letters, digits and dashes (the publisher, e.g. "central-office").`);
      const key = readPublicKey(publicKeyPem);
      const fingerprint = keyFingerprint(key);
      const clash = db.prepare('select name from bundle_keys where name = ? or fingerprint = ?').get(name, fingerprint) as { name: string } | undefined;
      if (clash) throw new OutpostError('BUNDLE_KEY_EXISTS', clash.name === name ? `A key named "${name}" is already trusted; untrust it first to replace it.` : `This key is already trusted as "${clash.name}".`, { details: { name: clash.name } });
      const added: TrustedKey = { name, fingerprint, publicKey: String(key.export({ type: 'spki', format: 'pem' })), addedAt: new Date().toISOString(), addedBy: actor.name };
      db.transaction(() => {
        db.prepare('insert into bundle_keys (name, fingerprint, public_key, added_at, added_by) values (?, ?, ?, ?, ?)').run(added.name, added.fingerprint, added.publicKey, added.addedAt, added.addedBy);
        audit.record({ actor: actor.name, action: 'bundle.key-trust', target: name, details: { fingerprint }, ...(actor.ip ? { ip: actor.ip } : {}) });
      })();
      return added;
    },

    untrust(name, actor) {
      const found = db.prepare('select * from bundle_keys where name = ?').get(name) as KeyRow | undefined;
      if (!found) throw new OutpostError('BUNDLE_KEY_NOT_FOUND', `No trusted key is named "${name}". ./outpost bundle keys lists them.`, { details: { name } });
      db.transaction(() => {
        db.prepare('delete from bundle_keys where name = ?').run(name);
        audit.record({ actor: actor.name, action: 'bundle.key-untrust', target: name, details: { fingerprint: found.fingerprint }, ...(actor.ip ? { ip: actor.ip } : {}) });
      })();
    },

    keys: () => keyRows().map(toKey),

    async export(file, options) {
      const say = options.onProgress ?? (() => undefined);
      const target = path.resolve(file);
      const privateKey = readPrivateKey(await readFile(options.privateKeyFile, 'utf8').catch((error: Error) => {
        throw new OutpostError('BUNDLE_KEY_INVALID', `Cannot read the private key ${options.privateKeyFile}: ${error.message}.`, { cause: error });
      }), options.privateKeyFile);
      await mkdir(bundlesDir, { recursive: true });
      const staging = await mkdtemp(path.join(bundlesDir, '.export-'));
      try {
        const payload = path.join(staging, 'payload');
        const items: BundleItem[] = [];
        const list = async (kind: ItemKind, name: (rel: string) => string, dir: string, prefix: string) => {
          for (const rel of await walkFiles(dir, (r, what) => { throw new OutpostError('BUNDLE_EXPORT_FAILED', `${path.join(dir, r)} is ${what}; it cannot go into a bundle.`); })) {
            const full = path.join(dir, ...rel.split('/'));
            items.push({ kind, name: name(rel), path: `${prefix}${rel}`, sha256: await fileSha256(full), bytes: (await stat(full)).size });
          }
        };
        for (const image of new Set(options.images ?? [])) {
          if (!deps.docker) throw new OutpostError('ENGINE_UNAVAILABLE', 'Exporting images needs the Docker engine.');
          if (!IMAGE_REF.test(image) || !image.startsWith(`${deps.imagesRepository}/`)) throw new OutpostError('INPUT_INVALID', `${image} is not one of Outpost's images (${deps.imagesRepository}/NAME:TAG).`);
          say(`image ${image} (docker save)…`);
          await deps.docker.getImage(image).inspect().catch((error: unknown) => {
            throw new OutpostError('IMAGE_MISSING', `The image ${image} is not on this engine; build it first (./outpost images build).`, { cause: error });
          });
          const out = path.join(staging, ...imageFile(image).split('/'));
          await mkdir(path.dirname(out), { recursive: true });
          await pipeline(await deps.docker.getImage(image).get() as unknown as Readable, createWriteStream(out)).catch((error: unknown) => {
            throw new OutpostError('BUNDLE_EXPORT_FAILED', `docker save of ${image} failed: ${(error as Error).message}.`, { cause: error });
          });
          items.push({ kind: 'image', name: image, path: imageFile(image), sha256: await fileSha256(out), bytes: (await stat(out)).size });
        }
        for (const name of new Set(options.mirrors ?? [])) {
          if (!deps.mirrors) throw new OutpostError('SERVICE_UNAVAILABLE', 'The fake internet is switched off (fakeInternet.enabled is false): there are no mirrored sites to export.');
          const site = deps.mirrors.get(name);
          if (!site) throw new OutpostError('MIRROR_NOT_FOUND', `There is no mirrored site named "${name}". ./outpost mirror list shows them.`, { details: { name } });
          say(`mirror ${name} (https://${site.host}${site.pathPrefix})…`);
          const dir = path.join(payload, 'mirrors', name);
          await copyRegularFiles(await realpath(site.root), path.join(dir, 'files'));
          await writeFile(path.join(dir, 'site.json'), `${JSON.stringify({ host: site.host, pathPrefix: site.pathPrefix, extensionless: site.extensionless }, null, 2)}\n`);
          await list('mirror', () => name, dir, `payload/mirrors/${name}/`);
        }
        if (options.packages) {
          if (!deps.packages) throw new OutpostError('SERVICE_UNAVAILABLE', 'The fake internet is switched off (fakeInternet.enabled is false): there is no npm mirror to export.');
          say('npm packages…');
          const dir = path.join(payload, 'packages');
          const exported = await deps.packages.exportTo(dir);
          if (exported.packages === 0) throw new OutpostError('INPUT_INVALID', 'The npm mirror holds no packages to export; fill it first (./outpost packages add NAME or --seed).');
          await list('packages', (rel) => rel.split('/').slice(0, -1).join('/'), dir, 'payload/packages/');
        }
        if (options.curriculum !== undefined) {
          const curriculum = deps.catalog ? await deps.catalog.validate(options.curriculum) : await loadCurriculum(options.curriculum);
          say(`curriculum ${curriculum.id} (${curriculum.title}, version ${curriculum.version})…`);
          const dir = path.join(payload, 'curriculum', curriculum.id);
          await copyRegularFiles(curriculum.root, dir);
          await list('curriculum', () => curriculum.id, dir, `payload/curriculum/${curriculum.id}/`);
        }
        if (items.length === 0) throw new OutpostError('INPUT_INVALID', 'Nothing to put in the bundle: give --images, --mirror NAME, --packages or --curriculum DIR.');
        const manifest: BundleManifest = {
          format: BUNDLE_FORMAT, createdAt: new Date().toISOString(), outpostVersion: deps.version,
          publisherFingerprint: keyFingerprint(privateKey), note: options.note ?? '', items,
        };
        checkManifest(manifest, deps.imagesRepository);
        const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
        await writeFile(path.join(staging, 'manifest.json'), manifestBytes);
        await writeFile(path.join(staging, 'manifest.sig'), `${sign(null, manifestBytes, privateKey).toString('base64')}\n`);
        say('archive…');
        await mkdir(path.dirname(target), { recursive: true });
        const partial = `${target}.partial`;
        await tar.create({ file: partial, cwd: staging, portable: true, strict: true }, ['manifest.json', 'manifest.sig', 'payload']);
        await rename(partial, target);
        log.info({ file: target, items: items.length }, 'bundle exported');
        return { file: target, bytes: (await stat(target)).size, manifest, units: unitsOf(items) };
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },

    async import(file, actor) {
      const source = path.resolve(file);
      const reject = (error: unknown, extra: Record<string, unknown> = {}): never => {
        const failure = asOutpostError(error, 'BUNDLE_INVALID');
        audit.record({ actor: actor.name, action: 'bundle.rejected', target: path.basename(source), details: { source, code: failure.code, reason: failure.message.slice(0, 500), stage: 'import', ...extra }, ...(actor.ip ? { ip: actor.ip } : {}) });
        log.warn({ source, code: failure.code }, 'bundle refused');
        throw failure;
      };
      const info = await stat(source).catch(() => undefined);
      if (!info?.isFile()) reject(new OutpostError('BUNDLE_INVALID', `${source} is not a file. Give the path of the bundle (.tar) made by ./outpost bundle export.`));
      const sourceSha256 = await fileSha256(source);
      await mkdir(bundlesDir, { recursive: true, mode: 0o700 });
      const staging = path.join(bundlesDir, `staged-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`);
      try {
        await checkListing(source);
        await mkdir(staging, { mode: 0o700 });
        await extract(source, staging);
        const manifestBytes = await readFile(path.join(staging, 'manifest.json')).catch(() => { throw new OutpostError('BUNDLE_CONTENTS_MISMATCH', `${source} has no manifest.json: it is not a bundle made by ./outpost bundle export.`); });
        const signature = await readFile(path.join(staging, 'manifest.sig'), 'utf8').catch(() => { throw new OutpostError('BUNDLE_SIGNATURE_INVALID', `${source} has no manifest.sig: it is not signed, and unsigned bundles are never applied.`); });
        const { key, manifest } = await verifyStaged(staging, manifestBytes, signature);
        const units = await describeUnits(staging, manifest);
        const stagedAt = new Date().toISOString();
        const id = db.transaction(() => {
          const inserted = db.prepare(`insert into bundles (status, source, source_sha256, bytes, staging_dir, manifest, signature, publisher, fingerprint, units, staged_at, staged_by)
            values ('pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(source, sourceSha256, info!.size, staging, manifestBytes.toString('utf8'), signature.trim(), key.name, key.fingerprint, JSON.stringify(units), stagedAt, actor.name);
          const newId = Number(inserted.lastInsertRowid);
          audit.record({ actor: actor.name, action: 'bundle.staged', target: `bundle-${newId}`, details: { source, sha256: sourceSha256, publisher: key.name, fingerprint: key.fingerprint, createdAt: manifest.createdAt, outpostVersion: manifest.outpostVersion, units: units.map((u) => `${u.kind}:${u.name}`), files: manifest.items.length }, ...(actor.ip ? { ip: actor.ip } : {}) });
          return newId;
        })();
        log.info({ id, source, publisher: key.name }, 'bundle staged');
        return bundles.get(id);
      } catch (error) {
        await rm(staging, { recursive: true, force: true });
        return reject(error, { sha256: sourceSha256 });
      }
    },

    list: () => (db.prepare('select * from bundles order by id desc').all() as BundleRow[]).map(toRecord),

    get: (id) => toRecord(requireRow(id)),

    async approve(id, actor, options = {}) {
      const say = options.onProgress ?? (() => undefined);
      const current = requireRow(id);
      if (applying.has(id)) throw new OutpostError('BUNDLE_STATE_INVALID', `Bundle #${id} is being applied right now.`);
      if (current.status === 'applied' || current.status === 'rejected') {
        throw new OutpostError('BUNDLE_STATE_INVALID', `Bundle #${id} is already ${current.status}${current.decided_by ? ` (by ${current.decided_by})` : ''}; only a pending or failed bundle can be approved.`, { details: { status: current.status } });
      }
      applying.add(id);
      const ip = actor.ip ? { ip: actor.ip } : {};
      const via = actor.via ? { via: actor.via } : {};
      try {
        audit.record({ actor: actor.name, action: 'bundle.approved', target: `bundle-${id}`, details: { note: options.note ?? '', previous: current.status, ...via }, ...ip });
        setStatus(id, 'applying', { decidedBy: actor.name, note: options.note ?? null });
        say('checking the staged files again…');
        let units: BundleUnit[];
        try {
          // The staged files could have changed since import, and the key could have been untrusted.
          await verifyStaged(current.staging_dir, Buffer.from(current.manifest, 'utf8'), current.signature);
          units = JSON.parse(current.units) as BundleUnit[];
        } catch (error) {
          const failure = asOutpostError(error, 'BUNDLE_INVALID');
          const results: UnitResult[] = [{ kind: 'verification', name: 'staged files', status: 'failed', detail: failure.message, code: failure.code }];
          setStatus(id, 'failed', { results });
          audit.record({ actor: actor.name, action: 'bundle.failed', target: `bundle-${id}`, details: { stage: 'verify', code: failure.code, reason: failure.message.slice(0, 500), ...via }, ...ip });
          throw failure;
        }
        const results: UnitResult[] = [];
        let mirrorsChanged = false;
        for (const unit of units) {
          say(`${unit.kind} ${unit.name}…`);
          try {
            const detail = await applyUnit(id, unit, current.staging_dir, actor);
            if (unit.kind === 'mirror') mirrorsChanged = true;
            results.push({ kind: unit.kind, name: unit.name, status: 'applied', detail });
          } catch (error) {
            const failure = asOutpostError(error);
            log.warn({ id, unit: `${unit.kind}:${unit.name}`, err: error }, 'a bundle item failed to apply');
            results.push({ kind: unit.kind, name: unit.name, status: 'failed', detail: failure.message, code: failure.code });
          }
          say(`  ${results.at(-1)!.status}: ${results.at(-1)!.detail}`);
        }
        if (mirrorsChanged && deps.onMirrorsChanged) await deps.onMirrorsChanged().catch((error: unknown) => log.warn({ err: error }, 'publishing changed sites failed'));
        const ok = results.every((r) => r.status === 'applied');
        setStatus(id, ok ? 'applied' : 'failed', { results });
        audit.record({ actor: actor.name, action: ok ? 'bundle.applied' : 'bundle.failed', target: `bundle-${id}`, details: { results: results.map((r) => ({ unit: `${r.kind}:${r.name}`, status: r.status, ...(r.code ? { code: r.code } : {}) })), ...via }, ...ip });
        // Applied: the staged copy has done its job (and may be gigabytes). Failed: kept, to retry.
        if (ok) await rm(current.staging_dir, { recursive: true, force: true });
        return bundles.get(id);
      } finally {
        applying.delete(id);
      }
    },

    async reject(id, actor, reason) {
      const current = requireRow(id);
      const why = reason.trim();
      if (why.length < 3) throw new OutpostError('INPUT_INVALID', 'Say why the bundle is rejected (a reason of at least 3 characters); it goes into the audit log.');
      if (applying.has(id) || !['pending', 'failed'].includes(current.status)) {
        throw new OutpostError('BUNDLE_STATE_INVALID', `Bundle #${id} is ${applying.has(id) ? 'being applied' : current.status}; only a pending or failed bundle can be rejected.`, { details: { status: current.status } });
      }
      db.transaction(() => {
        setStatus(id, 'rejected', { decidedBy: actor.name, note: why.slice(0, 2000) });
        audit.record({ actor: actor.name, action: 'bundle.rejected', target: `bundle-${id}`, details: { reason: why.slice(0, 2000), stage: 'review', publisher: current.publisher, ...(actor.via ? { via: actor.via } : {}) }, ...(actor.ip ? { ip: actor.ip } : {}) });
      })();
      await rm(current.staging_dir, { recursive: true, force: true });
      return bundles.get(id);
    },
  };
  return bundles;
}

/** The tags a `docker save` archive would give its image, read from its manifest.json. */
async function savedImageTags(file: string): Promise<string[]> {
  let text = '';
  await tar.list({
    file,
    onReadEntry: (entry) => {
      if (entry.path === 'manifest.json' || entry.path === './manifest.json') entry.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
      else entry.resume();
    },
  });
  try {
    const manifest = JSON.parse(text) as { RepoTags?: string[] | null }[];
    return manifest.flatMap((m) => m.RepoTags ?? []);
  } catch {
    return [];
  }
}

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream as AsyncIterable<Buffer | string>) text += chunk.toString();
  return text;
}
