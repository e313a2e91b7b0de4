// The WebSocket to the server (docs/protocol.md): one socket at /ws on this page's origin,
// requests matched to their replies by request_id, reconnection with backoff.
//
// Owns the socket and the requests in flight. It knows nothing of sessions or rooms: the app
// listens for `open` (send hello), `push` (messages that answer no request) and `status`.

import { freshId } from './dom.js';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
/** A request unanswered this long means the connection is stuck: it is dropped and made again
 * (the app resumes its room on the new one). */
const REPLY_TIMEOUT_MS = 15000;
/** Close code: the token was taken over by a newer connection. */
export const CLOSE_REPLACED = 4001;

/** A refused or failed request: `code` is the protocol's error code (or `disconnected`). */
export class RequestError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.code = code;
    Object.assign(this, extra);
  }
}

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.pending = new Map(); // request_id -> {resolve, reject}
    this.delay = FIRST_DELAY_MS;
    this.wanted = false; // whether the socket should be kept open
    this.timer = null;
    this.status = 'offline';
    window.addEventListener('online', () => this.retryNow());
  }

  /** Opens the socket (and keeps it open until close()). */
  connect() {
    this.wanted = true;
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    this.setStatus(this.status === 'reconnecting' ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.dispatchEvent(new Event('open'));
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      this.receive(ev.data);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending();
      if (ev.code === CLOSE_REPLACED) {
        this.wanted = false;
        this.setStatus('replaced', ev.reason);
      } else if (this.wanted) {
        this.scheduleReconnect();
      } else {
        this.setStatus('offline');
      }
    });
  }

  /** Closes the socket for good (until the next connect()). */
  close() {
    this.wanted = false;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    this.failPending();
    if (ws) ws.close(1000, 'bye');
    this.setStatus('offline');
  }

  /** Drops the socket at once (its requests fail) but keeps wanting one: it reconnects after
   * the current delay. Does nothing unless `only` (when given) is still the current socket. */
  drop(only) {
    const ws = this.ws;
    if (!ws || (only && only !== ws)) return;
    this.ws = null;
    this.failPending();
    try {
      ws.close(1000, 'retry');
    } catch {
      /* closing already */
    }
    if (this.wanted) this.scheduleReconnect();
    else this.setStatus('offline');
  }

  /** The session is established: the next drop starts again from the shortest delay. */
  healthy() {
    this.delay = FIRST_DELAY_MS;
    this.setStatus('connected');
  }

  /** Reconnects at once when a reconnection is waiting for its delay. */
  retryNow() {
    if (this.wanted && !this.ws) {
      this.delay = FIRST_DELAY_MS;
      this.connect();
    }
  }

  scheduleReconnect() {
    this.setStatus('reconnecting');
    clearTimeout(this.timer);
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  setStatus(status, detail) {
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: { status, reason: detail } }));
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a request and resolves with its reply (rejects with a RequestError for an `error`
   * reply or when the socket drops first). A request_id is added unless the message has one.
   */
  request(msg) {
    const id = msg.request_id || freshId(msg.type === 'act' ? 'a' : 'q');
    const frame = { ...msg, request_id: id };
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject(new RequestError('disconnected', 'not connected'));
        return;
      }
      const socket = this.ws;
      const timer = setTimeout(() => {
        if (!this.pending.has(id)) return;
        this.pending.delete(id);
        reject(new RequestError('timeout', 'the server did not answer'));
        this.drop(socket);
      }, REPLY_TIMEOUT_MS);
      const settle = (fn) => (value) => {
        clearTimeout(timer);
        fn(value);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      try {
        this.ws.send(JSON.stringify(frame));
      } catch (e) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new RequestError('disconnected', String(e)));
      }
    });
  }

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text, exactSeed);
    } catch {
      return; // the server only sends JSON; anything else is ignored
    }
    if (!msg || typeof msg !== 'object') return;
    const id = msg.request_id;
    if (typeof id === 'string' && this.pending.has(id)) {
      const { resolve, reject } = this.pending.get(id);
      this.pending.delete(id);
      if (msg.type === 'error') {
        reject(new RequestError(msg.code, msg.message, { retry_after_ms: msg.retry_after_ms }));
      } else {
        resolve(msg);
      }
      return;
    }
    this.dispatchEvent(new CustomEvent('push', { detail: msg }));
  }

  failPending() {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of pending) reject(new RequestError('disconnected', 'the connection dropped'));
  }
}

/** A JSON.parse reviver keeping a game's seed (a u64, often beyond 2^53) exact: as its digits,
 * where the browser tells revivers the source text (else the nearest number). */
export function exactSeed(key, value, context) {
  if (key === 'seed' && typeof value === 'number' && !Number.isSafeInteger(value) && context && typeof context.source === 'string') {
    return context.source;
  }
  return value;
}

/** The socket URL on this page's origin. */
export function socketUrl() {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
}
