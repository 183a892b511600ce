/** The relay's header rewriting, without a container (the preview tests cover the relay itself). */
import { expect } from 'chai';
import { rewriteLocation } from './http-relay.ts';

describe('http relay: Location', () => {
  const prefix = '/p/TOKEN';
  it("keeps the app's own redirects under the link", () => {
    expect(rewriteLocation('/login', prefix, 3000)).to.equal('/p/TOKEN/login');
    expect(rewriteLocation('/?next=%2Fa', prefix, 3000)).to.equal('/p/TOKEN/?next=%2Fa');
    // Absolute URLs built from the Host the relay sends.
    expect(rewriteLocation('http://localhost:3000/a?b=1#c', prefix, 3000)).to.equal('/p/TOKEN/a?b=1#c');
    expect(rewriteLocation('http://127.0.0.1:3000', prefix, 3000)).to.equal('/p/TOKEN/');
  });

  it('leaves alone relative links, links already under the prefix, and other hosts', () => {
    expect(rewriteLocation('next.html', prefix, 3000)).to.equal('next.html');
    expect(rewriteLocation('/p/TOKEN/done', prefix, 3000)).to.equal('/p/TOKEN/done');
    expect(rewriteLocation('/p/TOKEN', prefix, 3000)).to.equal('/p/TOKEN');
    expect(rewriteLocation('/p/TOKENS', prefix, 3000)).to.equal('/p/TOKEN/p/TOKENS');
    expect(rewriteLocation('//example.org/x', prefix, 3000)).to.equal('//example.org/x');
    expect(rewriteLocation('/\\example.org/x', prefix, 3000)).to.equal('/\\example.org/x');
    expect(rewriteLocation('http://localhost:4000/x', prefix, 3000)).to.equal('http://localhost:4000/x');
    expect(rewriteLocation('https://localhost:3000/x', prefix, 3000)).to.equal('https://localhost:3000/x');
    expect(rewriteLocation('http://example.org/x', prefix, 3000)).to.equal('http://example.org/x');
  });
});
