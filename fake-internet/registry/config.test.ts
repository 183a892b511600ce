import { expect } from 'chai';
import { registrySettingsSchema, verdaccioConfig } from './config.ts';

describe('registry Verdaccio config', () => {
  it('is sealed without an uplink: no uplinks, no proxying, nobody publishes', () => {
    const config = verdaccioConfig({ storageDir: '/srv/npm', listen: '0.0.0.0:4873', publicUrl: 'https://registry.outpost/' });
    expect(config.uplinks).to.deep.equal({});
    for (const access of Object.values(config.packages)) {
      expect(access).to.not.have.property('proxy');
      expect(access.access).to.equal('$all');
      expect(access.publish).to.equal('$nobody');
      expect(access.unpublish).to.equal('$nobody');
    }
    expect(config.auth).to.equal(null);
    expect(config.middlewares).to.deep.equal({});
    expect(config.web.enable).to.equal(false);
    expect(config).to.not.have.property('url_prefix');
    expect(config.storage).to.equal('/srv/npm');
  });

  it('proxies everything to its one uplink in fetch mode, refetching packuments every time', () => {
    const config = verdaccioConfig({ storageDir: '/srv/npm', listen: '127.0.0.1:0', uplink: 'http://127.0.0.1:9/' });
    expect(Object.keys(config.uplinks)).to.deep.equal(['staff']);
    expect(config.uplinks['staff']).to.include({ url: 'http://127.0.0.1:9/', cache: true, maxage: '0ms' });
    expect(config.packages['**']!.proxy).to.equal('staff');
    expect(config.packages['@*/*']!.proxy).to.equal('staff');
  });

  it('carries the path of a public URL as the URL prefix', () => {
    expect(verdaccioConfig({ storageDir: '/s', listen: '0.0.0.0:4873', publicUrl: 'https://outpost.lan/npm/' }).url_prefix).to.equal('/npm/');
  });

  it('validates the container settings file', () => {
    const good = { storageDir: '/srv/npm', listen: '0.0.0.0:4873', publicUrl: 'https://registry.outpost/', requestLog: '/log/requests.jsonl' };
    expect(registrySettingsSchema.parse(good)).to.deep.equal({ ...good, logLevel: 'info' });
    expect(registrySettingsSchema.safeParse({ ...good, listen: '[::]:4873' }).success).to.equal(true);
    expect(registrySettingsSchema.safeParse({ ...good, listen: '4873' }).success).to.equal(false);
    expect(registrySettingsSchema.safeParse({ ...good, publicUrl: 'ftp://registry.outpost/' }).success).to.equal(false);
    expect(registrySettingsSchema.safeParse({ ...good, requestLog: undefined }).success).to.equal(false);
  });
});
