import { expect } from 'chai';
import { isValidPackageName, packageNameFromPath, parseSpec } from './names.ts';

describe('registry names', () => {
  it('accepts registry specs: names, scopes, versions, ranges and tags', () => {
    expect(parseSpec('express')).to.deep.equal({ name: 'express' });
    expect(parseSpec('chai@6.2.1')).to.deep.equal({ name: 'chai', range: '6.2.1' });
    expect(parseSpec('@types/node@^20.1.0')).to.deep.equal({ name: '@types/node', range: '^20.1.0' });
    expect(parseSpec('@eslint/js')).to.deep.equal({ name: '@eslint/js' });
    expect(parseSpec('typescript@>=5.0.0 <6')).to.deep.equal({ name: 'typescript', range: '>=5.0.0 <6' });
    expect(parseSpec('mocha@1.x || 2.x')).to.deep.equal({ name: 'mocha', range: '1.x || 2.x' });
    expect(parseSpec('react@next')).to.deep.equal({ name: 'react', range: 'next' });
    expect(parseSpec('JSONStream')).to.deep.equal({ name: 'JSONStream' });
  });

  it('refuses specs npm would fetch from anywhere but the registry, and malformed names', () => {
    const refused = [
      'https://example.invalid/pkg.tgz',
      'git+https://example.invalid/a/b.git',
      'git://example.invalid/a/b.git',
      'github:someone/repo',
      'someone/repo',
      'file:../local',
      './local',
      '/abs/path',
      '~/pkg',
      'alias@npm:is-number@7.0.0',
      'pkg@file:../x',
      'pkg@https://example.invalid/x.tgz',
      'pkg@',
      '@scope',
      '@scope/',
      '-rf',
      '.hidden',
      '_private',
      'node_modules',
      'a b',
      '',
      'x'.repeat(215),
    ];
    for (const spec of refused) expect(parseSpec(spec), spec).to.equal(undefined);
  });

  it('finds the package a registry request is about', () => {
    expect(packageNameFromPath('/express')).to.equal('express');
    expect(packageNameFromPath('/express/5.1.0')).to.equal('express');
    expect(packageNameFromPath('/express/-/express-5.1.0.tgz')).to.equal('express');
    expect(packageNameFromPath('/@types%2fnode')).to.equal('@types/node');
    expect(packageNameFromPath('/@types%2Fnode?write=true')).to.equal('@types/node');
    expect(packageNameFromPath('/@types/node/-/node-20.0.0.tgz')).to.equal('@types/node');
    expect(packageNameFromPath('/-/npm/v1/security/advisories/bulk')).to.equal(undefined);
    expect(packageNameFromPath('/-/ping')).to.equal(undefined);
    expect(packageNameFromPath('/')).to.equal(undefined);
    expect(packageNameFromPath('/@scope')).to.equal(undefined);
    expect(packageNameFromPath('/%E0%A4%A')).to.equal(undefined);
    expect(packageNameFromPath('/favicon.ico')).to.equal(undefined);
  });

  it('applies the length limit and reserved names', () => {
    expect(isValidPackageName('a'.repeat(214))).to.equal(true);
    expect(isValidPackageName('a'.repeat(215))).to.equal(false);
    expect(isValidPackageName('favicon.ico')).to.equal(false);
  });
});
