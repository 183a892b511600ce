import { expect } from 'chai';
import { comparePairs, tokenize } from './similarity.ts';

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
});
