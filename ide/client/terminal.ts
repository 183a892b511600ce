/**
 * xterm.js attached to a server-side session (a terminal or a Run) over one WebSocket. Loaded
 * lazily, after the editor is usable. Reconnects with back-off: the session lives on the server, so
 * a dropped connection or a reload gets the same shell back with its recent output replayed.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { ACK_EVERY_BYTES, CLOSE, type ClientMessage, type ExitInfo, type ServerMessage } from '../protocol.ts';

export interface AttachOptions {
  owner: string;
  kind: 'terminal' | 'run';
  /** Read-only sessions (a finished Run's output) take no keyboard input. */
  input: boolean;
  onExit?: (exit: ExitInfo) => void;
  onState?: (state: 'connecting' | 'open' | 'closed' | 'gone') => void;
  /** Called when the server says the session is gone (so the caller can start a new one). */
  onGone?: () => void;
  /** The IDE's action for a key that belongs to the IDE, not the shell (Ctrl+S, F5); undefined for others. */
  shortcut?: (event: KeyboardEvent) => (() => void) | undefined;
}

export class AttachedTerminal {
  readonly term: Terminal;
  readonly fit = new FitAddon();
  #ws: WebSocket | undefined;
  #id: string | undefined;
  #unacked = 0;
  /** Replayed bytes of the current connection not yet parsed by xterm. */
  #replaying = 0;
  /**
   * One per connection. xterm's write queue outlives a connection (switching terminals, a
   * reconnect): the parse callbacks of an earlier one still arrive, and must not touch this one's
   * counters (a negative #replaying would drop every keystroke) or acknowledge its bytes.
   */
  #generation = 0;
  /** The connection whose clean screen xterm has parsed; before that its queue holds older output. */
  #shown = -1;
  #toReplay = 0;
  #retry = 0;
  #timer: number | undefined;
  #disposed = false;
  #observer: ResizeObserver;

  constructor(readonly element: HTMLElement, readonly options: AttachOptions) {
    this.term = new Terminal({
      cursorBlink: options.input,
      disableStdin: !options.input,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace',
      fontSize: 13,
      scrollback: 5000,
      theme: { background: '#1e1e1e' },
    });
    this.term.loadAddon(this.fit);
    // xterm stops every key it handles from reaching the page, so the IDE's shortcuts would do
    // nothing here and Ctrl+S would even reach the shell as XOFF and freeze its output. Those keys go
    // to the IDE instead, as in VS Code's terminal; the event is consumed so the window's handler
    // does not act twice, and F5 does not reload the page.
    this.term.attachCustomKeyEventHandler((event) => {
      const action = options.shortcut?.(event);
      if (!action) return true;
      if (event.type === 'keydown') { event.preventDefault(); event.stopPropagation(); action(); }
      return false;
    });
    this.term.open(element);
    this.fit.fit();
    if (options.input) {
      // While replaying old output xterm answers the terminal queries in it (vim asks for colours and
      // the device type); those answers are stale and must not be typed into the shell.
      // The same goes for an earlier session's output still queued after a switch.
      const live = () => this.#replaying === 0 && this.#shown === this.#generation;
      this.term.onData((data) => { if (live()) this.#sendBinary(new TextEncoder().encode(data)); });
      this.term.onBinary((data) => { if (live()) this.#sendBinary(Uint8Array.from(data, (c) => c.charCodeAt(0))); });
    }
    this.term.onResize(({ cols, rows }) => this.#send({ t: 'resize', cols, rows }));
    this.#observer = new ResizeObserver(() => { if (element.offsetParent !== null) this.fit.fit(); });
    this.#observer.observe(element);
  }

  get id(): string | undefined { return this.#id; }

  /** Attaches to session `id` (replacing any current one). */
  attach(id: string): void {
    this.#id = id;
    this.#retry = 0;
    this.#ws?.close();
    this.#connect();
  }

  signal(name: 'INT' | 'TERM' | 'KILL' | 'HUP'): void { this.#send({ t: 'signal', name }); }

  focus(): void { this.term.focus(); }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#observer.disconnect();
    this.#ws?.close();
    this.term.dispose();
  }

  #connect(): void {
    if (!this.#id || this.#disposed) return;
    const { cols, rows } = this.term;
    const url = new URL(`/ide/${encodeURIComponent(this.options.owner)}/attach`, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = new URLSearchParams({ kind: this.options.kind, id: this.#id, cols: String(cols), rows: String(rows) }).toString();
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const generation = ++this.#generation;
    this.#ws = ws;
    this.#unacked = 0;
    this.#replaying = 0;
    this.#toReplay = 0;
    this.options.onState?.('connecting');
    ws.onopen = () => { this.#retry = 0; this.options.onState?.('open'); };
    ws.onmessage = (event) => {
      if (generation !== this.#generation) return;
      if (typeof event.data === 'string') return this.#control(JSON.parse(event.data) as ServerMessage, generation);
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      const replayed = Math.min(this.#toReplay, bytes.length);
      this.#toReplay -= replayed;
      this.#replaying += replayed;
      // Acknowledge only once xterm has parsed the bytes: that is what paces a flood.
      this.term.write(bytes, () => {
        if (generation !== this.#generation) return;
        this.#replaying -= replayed;
        this.#unacked += bytes.length;
        if (this.#unacked >= ACK_EVERY_BYTES) { this.#send({ t: 'ack', bytes: this.#unacked }); this.#unacked = 0; }
      });
    };
    ws.onclose = (event) => {
      if (this.#ws !== ws || this.#disposed) return;
      if (event.code === CLOSE.gone) { this.options.onState?.('gone'); this.options.onGone?.(); return; }
      if (event.code === CLOSE.replaced) { this.options.onState?.('closed'); this.term.write('\r\n\x1b[33m[this session was opened in another tab]\x1b[0m\r\n'); return; }
      if (event.code === CLOSE.unauthenticated) { location.reload(); return; }
      this.options.onState?.('closed');
      const delay = Math.min(5000, 200 * 2 ** this.#retry++);
      this.#timer = window.setTimeout(() => this.#connect(), delay);
    };
  }

  #control(message: ServerMessage, generation: number): void {
    // The server replays the session's recent output after hello: start from a clean screen. The
    // reset (RIS) goes through the write queue rather than term.reset(), which would clear the screen
    // now and let an earlier connection's output still queued be drawn on it afterwards.
    if (message.t === 'hello') {
      this.#toReplay = message.replayedBytes;
      this.#replaying = 0;
      this.term.write('\x1bc', () => { if (generation === this.#generation) this.#shown = generation; });
    }
    if (message.t === 'exit') this.options.onExit?.(message.exit);
    if (message.t === 'error') this.term.write(`\r\n\x1b[31m${message.message}\x1b[0m\r\n`);
  }

  #send(message: ClientMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  #sendBinary(bytes: Uint8Array<ArrayBuffer>): void {
    if (this.#ws?.readyState !== WebSocket.OPEN) return;
    // A big paste arrives as one string; the server takes messages up to 1 MiB.
    for (let offset = 0; offset < bytes.length; offset += 64 * 1024) this.#ws.send(bytes.subarray(offset, offset + 64 * 1024));
  }
}
