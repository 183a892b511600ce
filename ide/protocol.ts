/**
 * What the IDE's browser client and server say to each other. Imports nothing from Node, so the
 * client bundle can share it.
 *
 * An attached session (a terminal or a Run) is one WebSocket, `/ide/<owner>/attach?kind=&id=`:
 * - server → client, binary: program output (a terminal's raw bytes, TTY-encoded);
 * - server → client, text: one JSON `ServerMessage`;
 * - client → server, binary: keystrokes / input;
 * - client → server, text: one JSON `ClientMessage`.
 * Flow control: the client acknowledges output bytes once they are rendered (`ack`); the server
 * pauses the program while more than a high-water mark is unacknowledged, so a flood is throttled
 * at the source instead of being buffered without bound anywhere.
 */

export type SessionKind = 'terminal' | 'run';

export interface ExitInfo {
  exitCode: number;
  signal: string | null;
  timedOut: boolean;
  oomKilled: boolean;
  durationMs: number;
  /** Set when the session ended without an exit status (the connection to the workspace dropped). */
  error?: string;
}

export type ServerMessage =
  | { t: 'hello'; id: string; kind: SessionKind; replayedBytes: number; command: string }
  | { t: 'exit'; exit: ExitInfo }
  | { t: 'error'; code: string; message: string };

export type ClientMessage =
  | { t: 'resize'; cols: number; rows: number }
  | { t: 'ack'; bytes: number }
  | { t: 'signal'; name: 'INT' | 'TERM' | 'KILL' | 'HUP' };

/** How many rendered bytes the client lets accumulate before it acknowledges them. */
export const ACK_EVERY_BYTES = 32 * 1024;

/** WebSocket close codes the client acts on. */
export const CLOSE = {
  /** Another tab attached to this session. */
  replaced: 4000,
  /** The session ended or never existed. */
  gone: 4004,
  /** The sign-in session ended (logout, disabled account). */
  unauthenticated: 4401,
} as const;

export interface SessionSummary {
  id: string;
  kind: SessionKind;
  command: string;
  startedAt: string;
  exit: ExitInfo | null;
  attached: boolean;
}

export interface TreeEntry {
  name: string;
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mtimeMs: number;
}

export interface FileBody {
  path: string;
  version: string;
  /** UTF-8 text, or null for a binary file (the editor offers a download instead). */
  text: string | null;
  size: number;
}

/**
 * What the exercise panel shows for the open file. The curriculum fills it (curriculum/workspace.ts,
 * importing this type: the IDE itself never imports the curriculum), and the composition root hands
 * it to the IDE.
 */
export interface ExercisePanel {
  id: string;
  title: string;
  /** Sanitized on the server (Markdown with raw HTML off). */
  instructionsHtml: string;
  folder: string;
  maxScore: number;
  attemptsAllowed: number;
  attempts: { id: number; createdAt: string; score: number | null; maxScore: number; status: string; url: string }[];
  standing: string;
  pageUrl: string;
}
