/** The IDE's HTTP calls: every state change carries the session's CSRF token in a header. */
import type { ExercisePanel, FileBody, SessionSummary, TreeEntry } from '../protocol.ts';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

export interface Api {
  tree(dir: string): Promise<TreeEntry[]>;
  find(): Promise<{ files: string[]; truncated: boolean }>;
  read(path: string): Promise<FileBody>;
  /** `version` '' means "must not exist yet"; undefined means "overwrite whatever is there". */
  write(path: string, content: string | Blob, version?: string): Promise<{ version: string; size: number }>;
  mkdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  downloadUrl(path: string): string;
  run(file: string | null, cols: number, rows: number, purpose?: 'run' | 'tests'): Promise<{ id: string; command: string }>;
  stopRun(id: string): Promise<void>;
  runs(): Promise<SessionSummary[]>;
  terminals(): Promise<SessionSummary[]>;
  newTerminal(cols: number, rows: number): Promise<{ id: string }>;
  closeTerminal(id: string): Promise<void>;
  exercise(path: string | null): Promise<{ exercise: ExercisePanel | null }>;
  submitExercise(exercise: string): Promise<{ id: number; url: string }>;
}

export function createApi(owner: string, csrf: string): Api {
  const base = `/ide/${encodeURIComponent(owner)}/api`;
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

  async function call<T>(method: string, url: string, body?: { json?: unknown; raw?: string | Blob }): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    let payload: string | Blob | undefined;
    if (method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body?.json !== undefined) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body.json); }
    if (body?.raw !== undefined) { headers['content-type'] = 'application/octet-stream'; payload = body.raw; }
    const res = await fetch(url, { method, headers, credentials: 'same-origin', ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    const data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!res.ok) {
      const error = (data.error ?? {}) as { code?: string; message?: string; details?: Record<string, unknown> };
      throw new ApiError(res.status, error.code ?? 'HTTP_' + res.status, error.message ?? res.statusText, error.details);
    }
    return data as T;
  }

  return {
    async tree(dir) { return (await call<{ entries: TreeEntry[] }>('GET', `${base}/tree?${q({ dir })}`)).entries; },
    find: () => call('GET', `${base}/find`),
    read: (path) => call('GET', `${base}/file?${q({ path })}`),
    write: (path, content, version) => call('POST', `${base}/file?${q(version === undefined ? { path } : { path, version })}`, { raw: content }),
    async mkdir(path) { await call('POST', `${base}/mkdir`, { json: { path } }); },
    async rename(from, to) { await call('POST', `${base}/rename`, { json: { from, to } }); },
    async remove(path) { await call('POST', `${base}/delete`, { json: { path } }); },
    downloadUrl: (path) => `${base}/download?${q({ path })}`,
    run: (file, cols, rows, purpose = 'run') => call('POST', `${base}/runs`, { json: { file, cols, rows, purpose } }),
    async stopRun(id) { await call('POST', `${base}/runs/${encodeURIComponent(id)}/stop`, { json: {} }); },
    async runs() { return (await call<{ runs: SessionSummary[] }>('GET', `${base}/runs`)).runs; },
    async terminals() { return (await call<{ terminals: SessionSummary[] }>('GET', `${base}/terminals`)).terminals; },
    newTerminal: (cols, rows) => call('POST', `${base}/terminals`, { json: { cols, rows } }),
    async closeTerminal(id) { await call('POST', `${base}/terminals/${encodeURIComponent(id)}/close`, { json: {} }); },
    exercise: (path) => call('GET', `${base}/exercise?${q({ path: path ?? '' })}`),
    submitExercise: (exercise) => call('POST', `${base}/exercise/submit`, { json: { exercise } }),
  };
}
