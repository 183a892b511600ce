/** Assertions shared by tests; imports nothing but chai and core, so any layer's tests can use it. */
import { expect } from 'chai';
import { isOutpostError, type ErrorCode } from '../core/errors.ts';

/** Awaits a promise (or calls a function) that must fail with this OutpostError code; returns the error. */
export async function expectCode(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<Error> {
  const error = await (typeof p === 'function' ? Promise.resolve().then(p) : p).then(() => undefined, (e: unknown) => e);
  expect(isOutpostError(error, code), `expected ${code}, got ${String(error)}`).to.equal(true);
  return error as Error;
}
