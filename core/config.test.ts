import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, defaultConfig } from './config.ts';
import { isOutpostError } from './errors.ts';

describe('config', () => {
  const made: string[] = [];
  const tmp = async () => { const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-config-')); made.push(dir); return dir; };
  after(async () => { for (const dir of made) await rm(dir, { recursive: true, force: true }); });

  it('has a default for every key, limits included', () => {
    const c = defaultConfig();
    expect(c.http.port).to.equal(8080);
    expect(c.sandbox.workspace.memoryMiB).to.be.a('number');
    expect(c.sandbox.workspace.pids).to.be.a('number');
    expect(c.sandbox.exec.outputCapBytes).to.be.a('number');
    expect(c.sandbox.network).to.equal('none');
  });

  it('reads a file, then OUTPOST_* env over it', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'outpost.config.json');
    await writeFile(file, JSON.stringify({ http: { port: 9000 }, sandbox: { workspace: { memoryMiB: 1024 } } }));
    const c = loadConfig({ file, env: { OUTPOST_HTTP__PORT: '9100', OUTPOST_SANDBOX__WORKSPACE__PIDS: '500', OUTPOST_DATA_DIR: '/srv/outpost' } });
    expect(c.http.port).to.equal(9100);
    expect(c.sandbox.workspace.memoryMiB).to.equal(1024);
    expect(c.sandbox.workspace.pids).to.equal(500);
    expect(c.dataDir).to.equal('/srv/outpost');
  });

  it('names the key, the value source and the fix when a value is bad', () => {
    try {
      loadConfig({ env: { OUTPOST_SANDBOX__WORKSPACE__MEMORY_MIB: 'lots' } });
      expect.fail('should throw');
    } catch (error) {
      expect(isOutpostError(error, 'CONFIG_INVALID')).to.equal(true);
      expect((error as Error).message).to.include('sandbox.workspace.memoryMiB');
      expect((error as Error).message).to.include('OUTPOST_SANDBOX__WORKSPACE__MEMORY_MIB');
    }
  });

  it('rejects an environment variable that names no key, and a broken file', async () => {
    expect(() => loadConfig({ env: { OUTPOST_HTTP__PROT: '1' } })).to.throw(/OUTPOST_HTTP__PROT names no configuration key/);
    const dir = await tmp();
    const file = path.join(dir, 'bad.json');
    await writeFile(file, '{ "http": ');
    expect(() => loadConfig({ file, env: {} })).to.throw(/not valid JSON/);
    expect(() => loadConfig({ file: path.join(dir, 'missing.json'), env: {} })).to.throw(/Cannot read the config file/);
  });

  it('rejects unknown keys in the file, naming each with the file and the nearest known key', async () => {
    const dir = await tmp();
    const file = path.join(dir, 'outpost.config.json');
    await writeFile(file, JSON.stringify({ http: { prot: 9090 }, dataDri: '/srv/outpost', sandbox: { workspace: { memoryMb: 1024 } }, colour: 'blue' }));
    let message = '';
    try {
      loadConfig({ file, env: {} });
      expect.fail('should throw');
    } catch (error) {
      expect(isOutpostError(error, 'CONFIG_INVALID'), String(error)).to.equal(true);
      message = (error as Error).message;
    }
    expect(message).to.include(`http.prot: no such key (in ${file}); did you mean http.port?`);
    expect(message).to.include(`dataDri: no such key (in ${file}); did you mean dataDir?`);
    expect(message).to.include(`sandbox.workspace.memoryMb: no such key (in ${file}); did you mean sandbox.workspace.memoryMiB?`);
    expect(message).to.include(`colour: no such key (in ${file}); remove it`);
    // Known keys still load, also when the file holds a complete configuration (as `compose file` writes it).
    await writeFile(file, JSON.stringify({ ...defaultConfig(), http: { port: 9090 } }));
    expect(loadConfig({ file, env: {} }).http.port).to.equal(9090);
  });
});
