/**
 * Similarity of submissions to one exercise, as MOSS does it: each file becomes a stream of tokens
 * in which every identifier is the same token and every literal its kind (so renaming variables and
 * reformatting change nothing), k-grams of tokens are hashed, and winnowing keeps a sparse, position-
 * -independent set of fingerprints. Fingerprints that occur in the starter code are dropped, so
 * what everyone was given does not count. Two submissions' similarity is the share of the smaller
 * one's fingerprints they have in common; the matching regions are the line ranges those shared
 * fingerprints cover.
 */
const JS_KEYWORDS = new Set('break case catch class const continue debugger default delete do else export extends finally for function if import in instanceof let new return super switch this throw try typeof var void while with yield async await of static get set null undefined true false'.split(' '));
const PY_KEYWORDS = new Set('False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield print len range'.split(' '));

export interface Token { text: string; line: number }

/** Tokens of JavaScript/TypeScript or Python source, with comments dropped and names and literals generalized. */
export function tokenize(source: string, language: 'javascript' | 'typescript' | 'python' | 'other'): Token[] {
  const python = language === 'python';
  const keywords = python ? PY_KEYWORDS : JS_KEYWORDS;
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === '\n') { line++; i++; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (python ? c === '#' : source.startsWith('//', i)) { while (i < n && source[i] !== '\n') i++; continue; }
    if (!python && source.startsWith('/*', i)) {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      for (let j = i; j < stop; j++) if (source[j] === '\n') line++;
      i = stop;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const triple = python && source.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      const startLine = line;
      let j = i + close.length;
      while (j < n && !source.startsWith(close, j)) {
        if (source[j] === '\\') j++;
        else if (source[j] === '\n') line++;
        j++;
      }
      i = Math.min(n, j + close.length);
      tokens.push({ text: 'STR', line: startLine });
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i;
      while (j < n && /[0-9a-fA-FxXoObB._eE]/.test(source[j]!)) j++;
      i = j;
      tokens.push({ text: 'NUM', line });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      let j = i;
      while (j < n && /[A-Za-z0-9_$]/.test(source[j]!)) j++;
      const word = source.slice(i, j);
      i = j;
      tokens.push({ text: keywords.has(word) ? word : 'ID', line });
      continue;
    }
    const op = /^(===|!==|\*\*=|>>>|\.\.\.|=>|==|!=|<=|>=|&&|\|\||\?\?|\+\+|--|\+=|-=|\*=|\/=|\*\*|\/\/|->|:=)/.exec(source.slice(i, i + 4));
    const text = op ? op[1]! : c;
    // Semicolons and commas are style, not structure.
    if (text !== ';' && text !== ',') tokens.push({ text, line });
    i += text.length;
  }
  return tokens;
}

export interface Fingerprint { hash: number; line: number; endLine: number }

function hashGram(tokens: Token[], start: number, k: number): number {
  let h = 2166136261;
  for (let t = start; t < start + k; t++) {
    const s = tokens[t]!.text;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    h = Math.imul(h ^ 0x1f, 16777619);
  }
  return h >>> 0;
}

/**
 * Files are compared on their first MAX_TOKENS_PER_FILE tokens: a 1 MiB vendored or generated file
 * (about 300,000 tokens) says nothing about copying and would only make the page slow.
 */
export const MAX_TOKENS_PER_FILE = 100_000;

/**
 * Winnowing (Schleimer, Wilkerson, Aiken 2003): the minimum hash of every window of w k-grams (the
 * rightmost on a tie), each position once, in order. Linear: a deque holds the window's candidates
 * with strictly increasing hashes, so its front is always the window's minimum.
 */
export function fingerprints(tokens: Token[], k = 5, w = 4): Fingerprint[] {
  if (tokens.length < k) return [];
  const count = tokens.length - k + 1;
  const hashes = new Uint32Array(count);
  for (let i = 0; i < count; i++) hashes[i] = hashGram(tokens, i, k);
  const out: Fingerprint[] = [];
  const deque = new Int32Array(count);
  let head = 0;
  let tail = 0;
  let last = -1;
  const width = Math.min(w, count);
  for (let i = 0; i < count; i++) {
    // A later gram with an equal or smaller hash wins every window the earlier one is in.
    while (tail > head && hashes[deque[tail - 1]!]! >= hashes[i]!) tail--;
    deque[tail++] = i;
    const start = i - width + 1;
    if (start < 0) continue;
    while (deque[head]! < start) head++;
    const best = deque[head]!;
    if (best !== last) {
      out.push({ hash: hashes[best]!, line: tokens[best]!.line, endLine: tokens[best + k - 1]!.line });
      last = best;
    }
  }
  return out;
}

/** A file's fingerprints, from at most MAX_TOKENS_PER_FILE of its tokens. */
export function fileFingerprints(text: string, language: Parameters<typeof tokenize>[1]): Fingerprint[] {
  const tokens = tokenize(text, language);
  return fingerprints(tokens.length > MAX_TOKENS_PER_FILE ? tokens.slice(0, MAX_TOKENS_PER_FILE) : tokens);
}

export interface SubmissionText { id: string; files: { path: string; text: string }[] }

export interface SimilarPair {
  a: string;
  b: string;
  /** 0..1: the share of the smaller submission's fingerprints found in the other. */
  score: number;
  shared: number;
  regions: { a: { path: string; from: number; to: number }; b: { path: string; from: number; to: number } }[];
}

interface Print { hash: number; path: string; line: number; endLine: number }

function printsOf(sub: SubmissionText, language: Parameters<typeof tokenize>[1], ignored: Set<number>): Print[] {
  const out: Print[] = [];
  for (const f of sub.files) {
    for (const fp of fileFingerprints(f.text, language)) if (!ignored.has(fp.hash)) out.push({ hash: fp.hash, path: f.path, line: fp.line, endLine: fp.endLine });
  }
  return out;
}

/** Merges matched line ranges that touch, so a copied function shows as one region. */
function mergeRegions(matches: { a: Print; b: Print }[]): SimilarPair['regions'] {
  const sorted = [...matches].sort((x, y) => x.a.path.localeCompare(y.a.path) || x.a.line - y.a.line);
  const regions: SimilarPair['regions'] = [];
  for (const m of sorted) {
    const last = regions.at(-1);
    if (last && last.a.path === m.a.path && last.b.path === m.b.path && m.a.line <= last.a.to + 2 && Math.abs(m.b.line - last.b.to) <= 3) {
      last.a.to = Math.max(last.a.to, m.a.endLine);
      last.b.from = Math.min(last.b.from, m.b.line);
      last.b.to = Math.max(last.b.to, m.b.endLine);
    } else regions.push({ a: { path: m.a.path, from: m.a.line, to: m.a.endLine }, b: { path: m.b.path, from: m.b.line, to: m.b.endLine } });
  }
  return regions;
}

export function comparePairs(submissions: SubmissionText[], options: { language: Parameters<typeof tokenize>[1]; starter?: { path: string; text: string }[]; minScore?: number }): SimilarPair[] {
  const ignored = new Set<number>();
  for (const f of options.starter ?? []) for (const fp of fileFingerprints(f.text, options.language)) ignored.add(fp.hash);
  const prints = submissions.map((s) => {
    const list = printsOf(s, options.language, ignored);
    return { id: s.id, prints: list, distinct: new Set(list.map((p) => p.hash)).size };
  });
  const pairs: SimilarPair[] = [];
  for (let i = 0; i < prints.length; i++) {
    const byHash = new Map<number, Print>();
    for (const p of prints[i]!.prints) if (!byHash.has(p.hash)) byHash.set(p.hash, p);
    for (let j = i + 1; j < prints.length; j++) {
      const matches: { a: Print; b: Print }[] = [];
      const seen = new Set<number>();
      for (const p of prints[j]!.prints) {
        const other = byHash.get(p.hash);
        if (other && !seen.has(p.hash)) { seen.add(p.hash); matches.push({ a: other, b: p }); }
      }
      const smaller = Math.min(prints[i]!.distinct, prints[j]!.distinct);
      if (smaller === 0) continue;
      const score = matches.length / smaller;
      if (score < (options.minScore ?? 0)) continue;
      pairs.push({ a: prints[i]!.id, b: prints[j]!.id, score: Math.round(score * 1000) / 1000, shared: matches.length, regions: mergeRegions(matches) });
    }
  }
  return pairs.sort((x, y) => y.score - x.score || y.shared - x.shared);
}
