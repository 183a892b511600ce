import { expect } from 'chai';
import { isOutpostError } from '../../core/errors.ts';
import { createRouter, parseGatewayConfig, type GatewayConfigInput } from './routes.ts';

const base = { certsDir: '/c', requestLog: '/l' };

function config(sites: unknown[]): GatewayConfigInput {
  return { ...base, sites } as GatewayConfigInput;
}

describe('gateway configuration and routing', () => {
  it('picks the longest path prefix, exact hosts before wildcards', () => {
    const { sites } = parseGatewayConfig(
      config([
        { host: 'docs.python.org', pathPrefix: '/', kind: 'static', root: '/m/root', name: 'python-root' },
        { host: 'Docs.Python.org', pathPrefix: '/3/', kind: 'static', root: '/m/3', name: 'python-3' },
        { host: 'docs.python.org', pathPrefix: '/3/library/', kind: 'static', root: '/m/lib', name: 'python-lib' },
        { host: '*.apps.outpost', kind: 'proxy', upstream: 'http://10.0.0.9:3000', name: 'previews' },
        { host: 'special.apps.outpost', kind: 'proxy', upstream: 'http://10.0.0.8:3000/', name: 'special' },
      ]),
      'test',
    );
    const router = createRouter(sites);
    const name = (host: string, p: string) => router.match(host, p)?.site.name;
    expect(name('docs.python.org', '/3/library/json.html')).to.equal('python-lib');
    expect(name('docs.python.org', '/3/tutorial/')).to.equal('python-3');
    expect(name('docs.python.org', '/2/')).to.equal('python-root');
    expect(router.match('docs.python.org', '/3')?.bare, 'redirected to /3/ rather than served by the root site').to.equal(true);
    expect(name('alice.apps.outpost', '/')).to.equal('previews');
    expect(name('special.apps.outpost', '/x')).to.equal('special');
    expect(name('a.b.apps.outpost', '/'), 'a wildcard is one label, as in TLS').to.equal(undefined);
    expect(name('python.org', '/')).to.equal(undefined);
    expect(sites.find((s) => s.name === 'special')).to.deep.include({ upstream: 'http://10.0.0.8:3000' });
  });

  it('marks a path that is a prefix without its slash as bare', () => {
    const router = createRouter(parseGatewayConfig(config([{ host: 'docs.python.org', pathPrefix: '/3/', kind: 'static', root: '/m', name: 'p' }]), 't').sites);
    expect(router.match('docs.python.org', '/3')).to.deep.include({ bare: true });
    expect(router.match('docs.python.org', '/31')).to.equal(undefined);
  });

  it('rejects invalid configurations with INPUT_INVALID', () => {
    const invalid: unknown[][] = [
      [{ host: 'bad host', kind: 'static', root: '/m', name: 'x' }],
      [{ host: 'a.org', pathPrefix: '3/', kind: 'static', root: '/m', name: 'x' }],
      [{ host: 'a.org', pathPrefix: '/3', kind: 'static', root: '/m', name: 'x' }],
      [{ host: 'a.org', kind: 'proxy', upstream: 'http://10.0.0.1:80/base', name: 'x' }],
      [{ host: 'a.org', kind: 'proxy', upstream: 'file:///etc', name: 'x' }],
      [{ host: 'a.org', kind: 'ftp', name: 'x' }],
      [
        { host: 'a.org', kind: 'static', root: '/m', name: 'x' },
        { host: 'A.org', kind: 'static', root: '/n', name: 'y' },
      ],
    ];
    for (const sites of invalid) {
      let caught: unknown;
      try {
        parseGatewayConfig(config(sites), 'test.json');
      } catch (error) {
        caught = error;
      }
      expect(isOutpostError(caught, 'INPUT_INVALID'), JSON.stringify(sites)).to.equal(true);
      expect((caught as Error).message).to.contain('test.json');
    }
  });
});
