import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, OutpostError, httpStatusFor } from './errors.ts';

describe('error codes', () => {
  it('are all documented in docs/errors.md with their HTTP status', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const missing = Object.entries(ERROR_CODES).filter(([code, status]) => !doc.includes(`| \`${code}\` | ${status} |`)).map(([code]) => code);
    expect(missing, 'run the table update described in docs/errors.md').to.deep.equal([]);
  });

  it('map to HTTP in one place', () => {
    expect(httpStatusFor(new OutpostError('GIT_REPO_NOT_FOUND', 'x'))).to.equal(404);
  });
});
