import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { lockInstance, instanceLockPath } from './instance-lock.ts';
import { isOutpostError } from '../core/errors.ts';

describe('the one-server-per-instance lock', () => {
  let runDir: string;
  beforeEach(async () => {
    runDir = await mkdtemp(path.join(os.tmpdir(), 'outpost-lock-'));
  });
  afterEach(() => rm(runDir, { recursive: true, force: true }));

  it('refuses a second holder while the first lives, and is free again once released', async () => {
    const first = await lockInstance({ runDir, instance: 'main' });
    const second = await lockInstance({ runDir, instance: 'main' }).then(() => undefined, (e: unknown) => e);
    expect(isOutpostError(second, 'SERVER_ALREADY_RUNNING'), String(second)).to.equal(true);
    // Another instance is another lock.
    const other = await lockInstance({ runDir, instance: 'east' });
    await other.release();
    await first.release();
    const again = await lockInstance({ runDir, instance: 'main' });
    await again.release();
  });

  it('takes over the lock of a server that was killed (its socket file stays behind)', async () => {
    const socketPath = instanceLockPath(runDir, 'main');
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    expect(await lockInstance({ runDir, instance: 'main' }).then(() => 'locked', (e: unknown) => (e as Error).message)).to.match(/Another Outpost server/);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    expect(existsSync(socketPath), 'kill -9 leaves the socket file').to.equal(true);
    const lock = await lockInstance({ runDir, instance: 'main' });
    // And it is really held: a connection is accepted.
    await new Promise<void>((resolve, reject) => net.connect(socketPath, resolve).on('error', reject));
    await lock.release();
  });
});
