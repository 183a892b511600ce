import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { isOutpostError, type OutpostError } from '../../core/errors.ts';
import { compileZone, parseZone, resolve, type ZoneData } from './zone.ts';

const fixture = (): ZoneData => parseZone(JSON.parse(readFileSync(new URL('./fixtures/zone.json', import.meta.url), 'utf8')));

function parseError(json: unknown): OutpostError {
  try {
    parseZone(json);
  } catch (error) {
    expect(isOutpostError(error, 'DNS_ZONE_INVALID')).to.equal(true);
    return error as OutpostError;
  }
  expect.fail('parseZone accepted invalid data');
}

const brief = (answers: ReturnType<typeof resolve>['answers']) => answers.map((a) => `${a.name} ${a.type} ${'data' in a ? (typeof a.data === 'string' ? a.data : JSON.stringify(a.data)) : ''}`);

describe('dns zone', () => {
  it('accepts the fixture zone', () => {
    expect(fixture().zones).to.include('python.org');
  });

  it('names the bad field when zone data is invalid', () => {
    const zone = fixture();
    expect(parseError({ ...zone, records: { ...zone.records, 'docs.python.org': { a: ['10.0.0.300'] } } }).message).to.include('records["docs.python.org"].a[0]');
    expect(parseError({ ...zone, records: { 'Docs.python.org': { a: ['10.0.0.1'] } } }).message).to.match(/records\["Docs\.python\.org"\].*lower-case/);
    expect(parseError({ ...zone, records: { 'example.com': { a: ['10.0.0.1'] } } }).message).to.match(/records\["example\.com"\]: is outside every zone/);
    expect(parseError({ ...zone, records: { 'x.outpost': { a: ['10.0.0.1'], cname: 'outpost' } } }).message).to.match(/exactly one of/);
    expect(parseError({ ...zone, records: { 'outpost': { cname: 'git.outpost' } } }).message).to.match(/apex .* cannot be a CNAME/);
    expect(parseError({ ...zone, nameserver: { name: 'ns.outpost' } }).message).to.include('nameserver.address');
    expect(parseError({ ...zone, ttl: -1 }).message).to.include('at ttl');
    expect(parseError({ ...zone, extra: 1 }).message).to.include('extra');
    expect(parseError('not an object').message).to.include('(top level)');
  });

  it('rejects CNAME loops and chains longer than eight', () => {
    const zone = fixture();
    expect(parseError({ ...zone, records: { 'a.outpost': { cname: 'b.outpost' }, 'b.outpost': { cname: 'a.outpost' } } }).message).to.match(/loops or is longer than 8/);
    const chain = (length: number) => Object.fromEntries(Array.from({ length }, (_, i) => [`c${i}.outpost`, i === length - 1 ? { a: ['10.0.0.1'] } : { cname: `c${i + 1}.outpost` }]));
    expect(() => parseZone({ ...zone, records: chain(9) })).not.to.throw();
    expect(parseError({ ...zone, records: chain(10) }).message).to.match(/longer than 8/);
    const longest = compileZone(parseZone({ ...zone, records: chain(9) }));
    const answered = resolve(longest, 'c0.outpost', 'A');
    expect(answered.rcode).to.equal('NOERROR');
    expect(answered.answers).to.have.length(9);
  });

  it('answers A, CNAME chains, SOA and NS, case-insensitively', () => {
    const zone = compileZone(fixture());
    expect(brief(resolve(zone, 'DOCS.Python.Org.', 'A').answers)).to.deep.equal(['docs.python.org A 10.77.0.40']);
    expect(brief(resolve(zone, 'www.git-scm.com', 'A').answers)).to.deep.equal(['www.git-scm.com CNAME alias.git-scm.com', 'alias.git-scm.com CNAME git-scm.com', 'git-scm.com A 10.77.0.42']);
    expect(brief(resolve(zone, 'www.git-scm.com', 'CNAME').answers)).to.deep.equal(['www.git-scm.com CNAME alias.git-scm.com']);
    expect(brief(resolve(zone, 'nodejs.org', 'NS').answers)).to.deep.equal(['nodejs.org NS ns.outpost']);
    const soa = resolve(zone, 'nodejs.org', 'SOA').answers[0]!;
    expect(soa).to.deep.include({ name: 'nodejs.org', type: 'SOA', ttl: 300 });
    expect(brief(resolve(zone, 'ns.outpost', 'A').answers)).to.deep.equal(['ns.outpost A 10.77.0.53']);
    expect(resolve(zone, 'docs.python.org', 'NS').answers).to.deep.equal([]);
  });

  it('answers NOERROR without data, with the SOA, for other types of names that exist', () => {
    const zone = compileZone(fixture());
    for (const type of ['AAAA', 'TXT', 'MX', 'UNKNOWN_65280']) {
      const result = resolve(zone, 'docs.python.org', type);
      expect(result.rcode, type).to.equal('NOERROR');
      expect(result.answers, type).to.deep.equal([]);
      expect(brief(result.authority)[0], type).to.match(/^python\.org SOA /);
    }
    const viaCname = resolve(zone, 'www.python.org', 'AAAA');
    expect(viaCname.rcode).to.equal('NOERROR');
    expect(brief(viaCname.answers)).to.deep.equal(['www.python.org CNAME python.org']);
    // An empty non-terminal exists (it has names below it) but owns nothing.
    const between = resolve(zone, 'labs.outpost', 'A');
    expect([between.rcode, between.answers.length, between.authority.length]).to.deep.equal(['NOERROR', 0, 1]);
  });

  it('answers NXDOMAIN with the enclosing SOA, or a root SOA outside every zone', () => {
    const zone = compileZone(fixture());
    const inZone = resolve(zone, 'nope.python.org', 'A');
    expect(inZone.rcode).to.equal('NXDOMAIN');
    expect(brief(inZone.authority)[0]).to.match(/^python\.org SOA .*"serial":2024060101/);
    const outside = resolve(zone, 'example.invalid', 'A');
    expect(outside.rcode).to.equal('NXDOMAIN');
    expect(outside.authority[0]).to.deep.include({ name: '.', type: 'SOA' });
    // The suffix match is on labels: "notpython.org" is not inside "python.org".
    expect(resolve(zone, 'notpython.org', 'A').authority[0]).to.deep.include({ name: '.' });
  });

  it('applies a wildcard only below its closest encloser (RFC 4592)', () => {
    const zone = compileZone(fixture());
    expect(brief(resolve(zone, 'raw.github.com', 'A').answers)).to.deep.equal(['raw.github.com CNAME github.com', 'github.com A 10.77.0.20']);
    expect(brief(resolve(zone, 'a.b.github.com', 'A').answers)).to.deep.equal(['a.b.github.com CNAME github.com', 'github.com A 10.77.0.20']);
    expect(brief(resolve(zone, 'api.github.com', 'A').answers)).to.deep.equal(['api.github.com A 10.77.0.21']);
    // api.github.com exists, so it is the closest encloser and has no wildcard of its own.
    expect(resolve(zone, 'v3.api.github.com', 'A').rcode).to.equal('NXDOMAIN');
    expect(resolve(zone, 'github.com', 'A').answers).to.have.length(1);
  });

  it('stops at a CNAME target outside our data, and follows NXDOMAIN through a chain', () => {
    const data = fixture();
    const zone = compileZone({ ...data, records: { ...data.records, 'dangling.outpost': { cname: 'missing.outpost' } } });
    const outside = resolve(zone, 'elsewhere.github.com', 'A');
    expect([outside.rcode, brief(outside.answers)]).to.deep.equal(['NOERROR', ['elsewhere.github.com CNAME example.invalid']]);
    const dangling = resolve(zone, 'dangling.outpost', 'A');
    expect([dangling.rcode, brief(dangling.answers)]).to.deep.equal(['NXDOMAIN', ['dangling.outpost CNAME missing.outpost']]);
    expect(dangling.authority[0]).to.deep.include({ name: 'outpost', type: 'SOA' });
  });

  it('answers SERVFAIL to a CNAME loop that only a wildcard makes', () => {
    const data = fixture();
    const zone = compileZone({ ...data, records: { '*.loop.outpost': { cname: 'x.loop.outpost' } } });
    expect(resolve(zone, 'y.loop.outpost', 'A')).to.deep.equal({ rcode: 'SERVFAIL', answers: [], authority: [] });
  });
});
