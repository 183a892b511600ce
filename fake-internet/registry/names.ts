/**
 * npm package names and install specs, as the mirror accepts them. Only registry specs are
 * allowed (name, name@version, name@range, name@tag): anything npm would fetch from somewhere other
 * than the registry (URLs, git, GitHub shorthands, files, aliases) cannot be mirrored.
 */

/**
 * npm's naming rules: at most 214 characters, URL-safe, no leading dot or underscore, an optional
 * scope. Upper case is refused for new packages but old ones (e.g. JSONStream) still have it.
 * "node_modules" and "favicon.ico" are reserved. A leading hyphen is refused too, so a name can
 * never be read as a command-line option.
 */
const NAME = /^(?:@[a-zA-Z0-9~][a-zA-Z0-9._~-]*\/)?[a-zA-Z0-9~][a-zA-Z0-9._~-]*$/;

/** Versions, ranges and dist-tags: no ':' or '/' so no URL, git or path can pass as a range. */
const RANGE = /^[a-zA-Z0-9 .+<>=~^*|_-]+$/;

export function isValidPackageName(name: string): boolean {
  return name.length <= 214 && NAME.test(name) && name !== 'node_modules' && name !== 'favicon.ico';
}

export interface ParsedSpec {
  name: string;
  /** Absent means npm's default ("latest"). */
  range?: string;
}

/** Parses "name", "name@range", "@scope/name@range"; undefined when it is not a registry spec. */
export function parseSpec(spec: string): ParsedSpec | undefined {
  const at = spec.indexOf('@', spec.startsWith('@') ? 1 : 0);
  const name = at === -1 ? spec : spec.slice(0, at);
  if (!isValidPackageName(name)) return undefined;
  if (at === -1) return { name };
  const range = spec.slice(at + 1).trim();
  if (range === '' || !RANGE.test(range)) return undefined;
  return { name, range };
}

/**
 * The package a registry request path is about, or undefined for API paths ("/-/..."), the root,
 * and anything that is not a valid name. Handles "/name", "/name/1.0.0", "/name/-/name-1.0.0.tgz",
 * "/@scope%2fname" (how npm asks for scoped packuments) and "/@scope/name/...".
 */
export function packageNameFromPath(urlPath: string): string | undefined {
  const pathname = urlPath.split('?')[0] ?? '';
  const segments = pathname.split('/').filter((segment) => segment !== '');
  const first = segments[0];
  if (first === undefined || first === '-') return undefined;
  let name: string;
  try {
    const decoded = decodeURIComponent(first);
    if (decoded.startsWith('@') && !decoded.includes('/')) {
      const second = segments[1];
      if (second === undefined) return undefined;
      name = `${decoded}/${decodeURIComponent(second)}`;
    } else {
      name = decoded;
    }
  } catch {
    return undefined;
  }
  return isValidPackageName(name) ? name : undefined;
}
