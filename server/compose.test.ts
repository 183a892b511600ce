import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadConfig } from '../core/config.ts';
import { composeDocument, composeFor, mountHolding, renderCompose } from './compose.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface ComposeService { image: string; network_mode?: string; networks?: Record<string, { ipv4_address: string }>; volumes: { source: string; target: string; read_only?: boolean }[]; cap_drop?: string[]; cap_add?: string[]; read_only?: boolean; user?: string }

describe('docker-compose.yml', () => {
  const defaults = () => loadConfig({ env: {}, cwd: os.tmpdir() });

  it('is what `./outpost compose file` generates from the default configuration (regenerate it after a change)', async () => {
    const checkedIn = await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(checkedIn).to.equal(renderCompose(defaults()));
  });

  it('is accepted by Debian\'s docker-compose', async () => {
    const { stderr } = await run('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q']);
    expect(stderr).to.equal('');
  });

  it('gives the engine socket to the control plane only, and puts every service on the sealed network alone', () => {
    const config = defaults();
    const doc = parse(renderCompose(config)) as { services: Record<string, ComposeService>; networks: Record<string, { internal: boolean; name: string; driver_opts: Record<string, string> }> };
    const names = Object.keys(doc.services).sort();
    expect(names).to.deep.equal(['control', 'dns', 'gateway', 'git', 'registry']);
    for (const [name, service] of Object.entries(doc.services)) {
      const socket = service.volumes.some((v) => v.source.includes('docker.sock') || v.target.includes('docker.sock'));
      expect(socket, `${name} mounts the engine socket`).to.equal(name === 'control');
      if (name === 'control') {
        expect(service.network_mode).to.equal('host');
        expect(service.networks).to.equal(undefined);
        continue;
      }
      expect(Object.keys(service.networks ?? {})).to.deep.equal(['sealed']);
      expect(service.cap_drop).to.deep.equal(['ALL']);
      expect(service.read_only).to.equal(true);
      expect(service.user).to.equal('990:990');
      // A service sees only its own directories: never the store, the CA key or students' disks.
      for (const v of service.volumes) {
        expect(v.source.startsWith(config.dataDir), v.source).to.equal(true);
        expect(v.source).not.to.match(/\/(pki|disks|mnt|ws)(\/|$)|outpost\.db/);
      }
    }
    const sealed = doc.networks.sealed!;
    expect(sealed.name).to.equal(config.fakeInternet.network);
    expect(sealed.internal).to.equal(true);
    expect(sealed.driver_opts['com.docker.network.bridge.inhibit_ipv4']).to.equal('true');
  });

  it('follows the configuration: data directory, network, addresses, instance and a config file', () => {
    const config = loadConfig({ env: {}, cwd: os.tmpdir(), overrides: { instance: 'lab2', dataDir: '/srv/outpost', fakeInternet: { network: 'lab2-sealed', subnet: '10.77.1.0/24' } } });
    const doc = composeDocument(config, { configFile: '/etc/outpost/lab2.json' }) as { services: Record<string, ComposeService & { container_name: string; environment?: Record<string, string> }> };
    expect(doc.services.gateway!.networks!.sealed!.ipv4_address).to.equal('10.77.1.3');
    expect(doc.services.dns!.container_name).to.equal('outpost-lab2-svc-dns');
    expect(doc.services.control!.volumes.map((v) => v.target)).to.include.members(['/srv/outpost', '/etc/outpost/lab2.json']);
    expect(doc.services.control!.environment!.OUTPOST_CONFIG).to.equal('/etc/outpost/lab2.json');
    expect(doc.services.control!.environment!.OUTPOST_FAKE_INTERNET__SERVICES).to.equal('compose');
  });

  it('`compose file --out` writes the same document', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-compose-'));
    try {
      const configFile = path.join(dir, 'config.json');
      await writeFile(configFile, JSON.stringify({ instance: 'cli', dataDir: path.join(dir, 'data') }));
      await run(path.join(ROOT, 'outpost'), ['--config', configFile, 'compose', 'file', '--out', path.join(dir, 'compose.yml')], { env: { ...process.env, OUTPOST_CONFIG: '' } });
      const written = await readFile(path.join(dir, 'compose.yml'), 'utf8');
      const effective = path.join(dir, 'data', 'outpost.compose-config.json');
      expect(written).to.equal(renderCompose(loadConfig({ file: configFile, env: {} }), { configFile: effective }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the container the configuration in effect, also when it came from ./outpost.config.json and OUTPOST_* variables', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'outpost-compose-'));
    try {
      // No --config: the file in the working directory, and a variable on top of it.
      await writeFile(path.join(dir, 'outpost.config.json'), JSON.stringify({ instance: 'east', dataDir: path.join(dir, 'data') }));
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OUTPOST_')));
      const { stdout } = await run(path.join(ROOT, 'outpost'), ['compose', 'file'], { cwd: dir, env: { ...env, OUTPOST_HTTP__PORT: '9191' } });
      const doc = parse(stdout) as { services: Record<string, ComposeService & { container_name: string; environment?: Record<string, string>; healthcheck: { test: string[] } }> };
      const control = doc.services.control!;
      const file = control.environment!.OUTPOST_CONFIG!;
      expect(control.volumes.map((v) => v.target)).to.include(file);
      // What the control plane will load inside the container (where neither source exists).
      const inside = loadConfig({ file, env: {}, cwd: '/' });
      expect([inside.instance, inside.dataDir, inside.http.port]).to.deep.equal(['east', path.join(dir, 'data'), 9191]);
      expect(control.container_name).to.equal('outpost-east-control');
      expect(control.healthcheck.test.join(' ')).to.include('127.0.0.1:9191');
      // The defaults need no file: the checked-in compose file stays as it is.
      expect(composeFor(defaults(), defaults()).effectiveConfig).to.equal(undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('mountHolding', () => {
  const info = [
    '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '43 27 254:0 /tmp/pt /tmp/pt rw,relatime shared:2 - ext4 /dev/vda rw',
    '50 27 0:40 / /var/lib rw,relatime shared:7 master:1 - ext4 /dev/vdb rw',
  ].join('\n');

  it('finds the innermost mount holding a directory and whether it propagates', () => {
    expect(mountHolding(info, '/srv/outpost')).to.deep.equal({ mountPoint: '/', shared: false });
    expect(mountHolding(info, '/tmp/pt/data')).to.deep.equal({ mountPoint: '/tmp/pt', shared: true });
    expect(mountHolding(info, '/var/lib/outpost')).to.deep.equal({ mountPoint: '/var/lib', shared: true });
    expect(mountHolding(info, '/tmp/ptx')).to.deep.equal({ mountPoint: '/', shared: false });
  });
});
