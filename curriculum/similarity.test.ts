import { expect } from 'chai';
import { comparePairs, fileFingerprints, fingerprints, MAX_TOKENS_PER_FILE, tokenize, type Fingerprint, type Token } from './similarity.ts';

/** The first, quadratic winnowing, kept as the reference the linear one must agree with. */
function referenceFingerprints(tokens: Token[], hashes: number[], k: number, w: number): Fingerprint[] {
  if (tokens.length < k) return [];
  const grams = hashes.map((hash, i) => ({ hash, line: tokens[i]!.line, endLine: tokens[i + k - 1]!.line }));
  const picked = new Map<number, Fingerprint>();
  for (let start = 0; start + w <= grams.length || start === 0; start++) {
    const window = grams.slice(start, Math.min(grams.length, start + w));
    let best = window[0]!;
    for (const g of window) if (g.hash <= best.hash) best = g;
    picked.set(grams.indexOf(best), best);
    if (start + w >= grams.length) break;
  }
  return [...picked.values()];
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 2 ** 32; };
}

const original = `export function monthlyTotal(expenses) {
  let total = 0;
  for (const item of expenses) {
    if (item.amount > 0) {
      total += item.amount;
    }
  }
  return Math.round(total * 100) / 100;
}

export function biggest(expenses) {
  let best = null;
  for (const e of expenses) if (!best || e.amount > best.amount) best = e;
  return best;
}
`;

// The same program with every name changed, comments added, and the layout redone.
const disguised = `// my own work!!
export function sumOfMonth(costs)
{
    let s = 0   // running sum
    for (const c of costs) { if (c.amount > 0) { s += c.amount } }
    return Math.round(s * 100) / 100
}
export function largest(list) {
  let top = null
  for (const x of list) if (!top || x.amount > top.amount) top = x
  return top
}
`;

const independent = `export function monthlyTotal(expenses) {
  return expenses.filter((e) => e.amount > 0).reduce((sum, e) => sum + e.amount, 0).toFixed(2) * 1;
}
export function biggest(expenses) {
  return [...expenses].sort((a, b) => b.amount - a.amount)[0] ?? null;
}
`;

describe('similarity check', () => {
  it('sees through renamed variables, comments and reformatting', () => {
    expect(tokenize('let a = 1; // x', 'javascript').map((t) => t.text)).to.deep.equal(tokenize('let total=42', 'javascript').map((t) => t.text));
    const pairs = comparePairs([{ id: 'ana', files: [{ path: 'budget.js', text: original }] }, { id: 'ben', files: [{ path: 'budget.js', text: disguised }] }, { id: 'cal', files: [{ path: 'budget.js', text: independent }] }], { language: 'javascript' });
    expect(pairs[0]).to.deep.include({ a: 'ana', b: 'ben' });
    expect(pairs[0]!.score).to.be.above(0.8);
    expect(pairs[0]!.regions[0]!.a).to.deep.include({ path: 'budget.js', from: 1 });
    const others = pairs.filter((p) => p.b === 'cal' || p.a === 'cal');
    for (const p of others) expect(p.score).to.be.below(0.35);
  });

  it('does not count the starter code everyone was given', () => {
    const starter = [{ path: 'budget.js', text: original }];
    const pairs = comparePairs([{ id: 'ana', files: [{ path: 'budget.js', text: original }] }, { id: 'ben', files: [{ path: 'budget.js', text: original }] }], { language: 'javascript', starter });
    expect(pairs).to.deep.equal([]);
  });

  it('works for Python', () => {
    const a = 'def total(xs):\n    s = 0\n    for x in xs:\n        if x > 0:\n            s += x\n    return s\n';
    const b = 'def add_up(values):  # mine\n    acc = 0\n    for v in values:\n        if v > 0:\n            acc += v\n    return acc\n';
    const pairs = comparePairs([{ id: 'a', files: [{ path: 'm.py', text: a }] }, { id: 'b', files: [{ path: 'm.py', text: b }] }], { language: 'python' });
    expect(pairs[0]!.score).to.equal(1);
  });

  it('winnows exactly as the first (quadratic) version did, and takes a 240,000-token file', () => {
    const next = random(7);
    // Few distinct token kinds give many equal hashes: the rightmost-minimum rule is what is tested.
    const kinds = ['ID', 'NUM', '(', ')', '=', '+', 'return', '{', '}'];
    for (let round = 0; round < 400; round++) {
      const length = Math.floor(next() * 40);
      const alphabet = 1 + Math.floor(next() * kinds.length);
      const tokens = Array.from({ length }, (_, i) => ({ text: kinds[Math.floor(next() * alphabet)]!, line: 1 + Math.floor(i / 3) }));
      const k = 1 + Math.floor(next() * 5);
      const w = 1 + Math.floor(next() * 6);
      const hashes = tokens.length < k ? [] : fingerprintsHashes(tokens, k);
      expect(fingerprints(tokens, k, w), `round ${round}: ${length} tokens, k=${k}, w=${w}`).to.deep.equal(referenceFingerprints(tokens, hashes, k, w));
    }
    const unit = 'function add(a, b) { const total = a + b * 3; if (total > 10) { return total - 1; } return total; }\n';
    const big = tokenize(unit.repeat(8000).replace(/3/g, () => String(Math.floor(next() * 1000))), 'javascript');
    expect(big.length).to.be.at.least(240_000);
    const prints = fingerprints(big);
    expect(prints.length).to.be.within(big.length / 10, big.length);
    expect(prints.every((p, i) => i === 0 || p.line >= prints[i - 1]!.line), 'fingerprints in file order').to.equal(true);
  });

  it(`compares a file on its first ${MAX_TOKENS_PER_FILE} tokens`, () => {
    const line = 'x = y + 1\n';
    const text = line.repeat(Math.ceil(MAX_TOKENS_PER_FILE / 4) + 1000);
    const lastLine = Math.ceil(MAX_TOKENS_PER_FILE / 4);
    const prints = fileFingerprints(text, 'python');
    expect(prints.length).to.be.above(0);
    expect(Math.max(...prints.map((p) => p.endLine))).to.be.at.most(lastLine);
  });
});

/** Every k-gram's hash, from fingerprints with a window of one (which keeps every gram). */
function fingerprintsHashes(tokens: Token[], k: number): number[] {
  return fingerprints(tokens, k, 1).map((f) => f.hash);
}
