import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../core/store.ts';
import { allowlistMigrations, pruneNetworkLog } from './index.ts';

describe('network log retention', () => {
  let dir = '';
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-netlog-'));
    store = openStore(path.join(dir, 'outpost.db'), allowlistMigrations);
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('drops rows older than the cut-off, in batches, and keeps the rest', () => {
    const insert = store.db.prepare("insert into network_log (at, service, client, owner, host, status) values (?, 'gateway', '10.0.0.9', 'ana', 'docs.python.org', '200')");
    const day = (n: number) => new Date(Date.UTC(2026, 0, 1) + n * 86_400_000).toISOString();
    for (let i = 0; i < 25; i += 1) insert.run(day(i % 5));
    const removed = pruneNetworkLog(store, day(3), 4);
    expect(removed).to.equal(15);
    const left = store.db.prepare('select at from network_log order by id').all() as { at: string }[];
    expect(left).to.have.length(10);
    expect(left.every((row) => row.at >= day(3))).to.equal(true);
    expect(pruneNetworkLog(store, day(3))).to.equal(0);
  });
});
