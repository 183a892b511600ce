/**
 * Loads @peculiar/x509 on demand. The library resolves its algorithms through tsyringe, which
 * refuses to load unless the Reflect metadata API exists; reflect-metadata provides it. Loading
 * lazily keeps that global polyfill out of processes that never touch certificates.
 */
type X509 = typeof import('@peculiar/x509');

export async function loadX509(): Promise<X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}
