import { expect } from 'chai';
import { mkdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dig, zoneFixture } from './fixtures/clients.ts';
import { startService, type RunningService } from './fixtures/service.ts';

type Zone = { serial: number; records: Record<string, unknown> };
const withDocsAt = (address: string, serial: number): Zone => {
  const zone = zoneFixture() as Zone;
  return { ...zone, serial, records: { ...zone.records, 'docs.python.org': { a: [address] } } };
};
const docsAddress = async (port: number) => (await dig(port, 'docs.python.org', 'A')).answer[0]?.[4];

describe('dns service (main.ts)', () => {
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.remove();
    service = undefined;
  });

  it('reloads when the zone file is replaced by rename, and keeps the old zone when the new one is invalid', async () => {
    service = await startService(withDocsAt('10.77.0.40', 1));
    expect(await docsAddress(service.port)).to.equal('10.77.0.40');

    const temp = path.join(path.dirname(service.zoneFile), '.zone.json.tmp');
    await writeFile(temp, JSON.stringify(withDocsAt('10.77.5.5', 2)));
    await rename(temp, service.zoneFile);
    await service.waitFor((line) => line.msg === 'dns: zone reloaded' && line.serial === 2);
    expect(await docsAddress(service.port)).to.equal('10.77.5.5');

    await writeFile(temp, JSON.stringify({ ...withDocsAt('10.77.6.6', 3), ttl: 'soon' }));
    await rename(temp, service.zoneFile);
    const failure = await service.waitFor((line) => line.msg === 'dns: zone reload failed; still answering from the previous zone');
    expect(JSON.stringify(failure)).to.include('DNS_ZONE_INVALID').and.include('at ttl');
    expect(await docsAddress(service.port)).to.equal('10.77.5.5');
    expect(service.child.exitCode).to.equal(null);
  });

  it('reloads on SIGHUP', async () => {
    // The zone file is a link to a file in another folder, so rewriting that file is invisible to the
    // folder watch: only the signal can make the service notice.
    let target = '';
    service = await startService(undefined, {
      writeZone: async (dir) => {
        await mkdir(path.join(dir, 'elsewhere'));
        target = path.join(dir, 'elsewhere', 'zone.json');
        await writeFile(target, JSON.stringify(withDocsAt('10.77.0.40', 1)));
        await symlink(target, path.join(dir, 'zone', 'zone.json'));
      },
    });
    await writeFile(target, JSON.stringify(withDocsAt('10.77.7.7', 2)));
    expect(await docsAddress(service.port)).to.equal('10.77.0.40');
    service.child.kill('SIGHUP');
    await service.waitFor((line) => line.msg === 'dns: zone reloaded' && line.reason === 'SIGHUP' && line.serial === 2);
    expect(await docsAddress(service.port)).to.equal('10.77.7.7');
  });

  it('writes one JSON line per query, rotates the log, and exits cleanly on SIGTERM', async () => {
    service = await startService(zoneFixture(), { logMaxBytes: 2000 });
    for (let i = 0; i < 30; i++) await dig(service.port, i % 2 === 0 ? 'git.outpost' : `unknown-${i}.outpost`, 'A');
    expect(await service.stop()).to.equal(0);
    const rotated = (await readFile(`${service.logFile}.1`, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const current = (await readFile(service.logFile, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect((await stat(`${service.logFile}.1`)).size).to.be.at.most(2000);
    expect(rotated.length + current.length).to.be.within(1, 30);
    expect(current.at(-1)).to.deep.include({ client: '127.0.0.1', protocol: 'udp', name: 'unknown-29.outpost', type: 'A', rcode: 'NXDOMAIN' });
    expect(rotated.every((line) => line.client === '127.0.0.1')).to.equal(true);
    expect(rotated.find((line) => line.name === 'git.outpost')).to.deep.include({ rcode: 'NOERROR', answers: ['git.outpost A 10.77.0.20'] });
    expect(service.lines.some((line) => line.msg === 'dns: stopping')).to.equal(true);
  });

  it('refuses to start on an invalid zone, saying where', async () => {
    const bad = { ...(zoneFixture() as Zone), zones: [] };
    try {
      service = await startService(bad);
      expect.fail('started with an invalid zone');
    } catch (error) {
      expect((error as Error).message).to.include('DNS_ZONE_INVALID').and.include('at zones');
    }
  });
});
