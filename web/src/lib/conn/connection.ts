// The one WebSocket to Orbit: connect with the session's token, keep it alive, notice at once
// when it died (a phone that slept, a network that changed), reconnect with backoff, follow
// threads with no gap and no duplicate across reconnects, and match answers to requests.
import { writable, type Readable } from "svelte/store";

import { ApiError } from "../api/http";
import { accessToken, endSession } from "../auth/session";
import type { Control } from "../protocol/Control";
import type { ErrorCode } from "../protocol/ErrorCode";
import type { Origin } from "../protocol/Origin";
import { backoffDelay } from "./backoff";
import { SeqTracker } from "./threads";

/** How the link to Orbit stands. */
export type Link = "connecting" | "open" | "reconnecting" | "offline" | "stopped";

export interface LinkState {
  link: Link;
  /** Show "reconnecting" only when the link has been down for a while (about 3 s). */
  visiblyDown: boolean;
  /** Why the last connection ended, for the banner. */
  lastError: string | null;
}

/** A JSON-RPC message from an anchor, as Orbit delivers it. */
export interface RpcMessage {
  id?: string | number;
  method?: string;
  params?: Record<string, unknown> & { threadId?: string };
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: ErrorCode } };
  /** Orbit's number of a thread frame. */
  seq?: number;
  /** The anchor that sent it, as Orbit names it (never the anchor's own say). */
  origin?: Origin;
}

/** A request that did not get an answer, or got an error. */
export class RequestError extends Error {
  /** Orbit's or the anchor's code (`error.data.code`), or "connection_lost" / "timeout". */
  readonly code: ErrorCode | "connection_lost" | "timeout" | "rpc_error";
  constructor(code: RequestError["code"], message: string) {
    super(message);
    this.name = "RequestError";
    this.code = code;
  }
}

export interface RequestOptions {
  /** The anchor to ask (`params.anchorId`); Orbit picks one otherwise (SPEC §1 rule 2). */
  anchorId?: string;
  timeoutMs?: number;
}

type Listener<T> = (value: T) => void;

/** Milliseconds a connect may take, until `orbit.hello`. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** A link silent this long is checked with a ping. */
export const STALE_MS = 25_000;
/** A ping unanswered this long means the link is dead. */
export const PING_DEADLINE_MS = 3_000;
/**
 * After sleep or when the page is shown again, a ping unanswered this long means the link is
 * dead. Shorter than PING_DEADLINE_MS: a socket the OS dropped while the phone slept is the
 * likely case then, and catching up fast matters more than sparing one needless reconnect.
 */
export const WAKE_PING_DEADLINE_MS = 1_000;
/** Down this long before the UI says "reconnecting". */
export const SHOW_DOWN_AFTER_MS = 3_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

interface Pending {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  method: string;
}

export class Connection {
  private readonly state = writable<LinkState>({ link: "stopped", visiblyDown: false, lastError: null });
  readonly link: Readable<LinkState> = { subscribe: this.state.subscribe };

  private ws: WebSocket | null = null;
  private running = false;
  private attempt = 0;
  private lastFrameAt = 0;
  private helloSeen = false;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the page was hidden, while it is. */
  private hiddenAt: number | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private downTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly seqs = new SeqTracker();
  private readonly threadListeners = new Map<string, Set<Listener<RpcMessage>>>();
  private readonly truncatedListeners = new Map<string, Set<() => void>>();
  private readonly controlListeners = new Set<Listener<Control>>();
  private readonly messageListeners = new Set<Listener<RpcMessage>>();
  private readonly openListeners = new Set<() => void>();

  constructor(private readonly url: string = defaultUrl()) {}

  /** Connects, and keeps connecting until `stop`. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.connect();
    if (typeof window !== "undefined") {
      window.addEventListener("visibilitychange", this.wake);
      window.addEventListener("online", this.wake);
      window.addEventListener("pageshow", this.wake);
      window.addEventListener("focus", this.wake);
      window.addEventListener("offline", this.wentOffline);
    }
  }

  stop(): void {
    this.running = false;
    if (typeof window !== "undefined") {
      window.removeEventListener("visibilitychange", this.wake);
      window.removeEventListener("online", this.wake);
      window.removeEventListener("pageshow", this.wake);
      window.removeEventListener("focus", this.wake);
      window.removeEventListener("offline", this.wentOffline);
    }
    this.teardown("stopped");
    this.set("stopped", null);
  }

  /** Control frames from Orbit (`orbit.anchors`, presence, errors). */
  onControl(listener: Listener<Control>): () => void {
    this.controlListeners.add(listener);
    return () => this.controlListeners.delete(listener);
  }

  /** Every JSON-RPC message that is not an answer to our own request (thread-less ones too). */
  onMessage(listener: Listener<RpcMessage>): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  /** Called after every (re)connect, once the subscriptions are sent again. */
  onOpen(listener: () => void): () => void {
    this.openListeners.add(listener);
    return () => this.openListeners.delete(listener);
  }

  /**
   * Follows a thread: its numbered frames go to `listener`, each once and in order, across
   * reconnects. `truncated` is called when Orbit could not replay what was missed: read the
   * thread afresh.
   */
  follow(threadId: string, listener: Listener<RpcMessage>, truncated: () => void): () => void {
    const first = !this.seqs.following(threadId);
    this.seqs.follow(threadId);
    addTo(this.threadListeners, threadId, listener);
    addTo(this.truncatedListeners, threadId, truncated);
    if (first && this.isOpen()) this.sendSubscribe(threadId, null);
    return () => {
      this.threadListeners.get(threadId)?.delete(listener);
      this.truncatedListeners.get(threadId)?.delete(truncated);
      if (!this.threadListeners.get(threadId)?.size) {
        this.seqs.forget(threadId);
        this.threadListeners.delete(threadId);
        this.truncatedListeners.delete(threadId);
        if (this.isOpen()) this.send({ type: "orbit.unsubscribe", threadId });
      }
    };
  }

  /** A JSON-RPC request to an anchor; rejects with `RequestError` (never hangs). */
  request<T>(method: string, params: Record<string, unknown>, options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.isOpen()) {
        reject(new RequestError("connection_lost", "Not connected to Orbit."));
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError("timeout", `${method} got no answer in time.`));
      }, options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer, method });
      const withAnchor = options.anchorId ? { ...params, anchorId: options.anchorId } : params;
      this.send({ id, method, params: withAnchor });
    });
  }

  /** Answers a server request (an approval) with `result`. */
  respond(id: string | number, result: unknown): void {
    this.send({ id, result });
  }

  /** Sends a control frame (e.g. `orbit.list-anchors`). */
  control(frame: Control): void {
    if (this.isOpen()) this.send(frame);
  }

  isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.helloSeen;
  }

  // ---- The link ----------------------------------------------------------------------------

  private async connect(): Promise<void> {
    if (!this.running) return;
    // Even when the browser says it is offline: that can be wrong (an Orbit on this machine or
    // this network is reachable without "the internet"), and a failed try costs little.
    this.set(this.attempt === 0 && !this.helloSeen ? "connecting" : "reconnecting", null);
    let token: string;
    try {
      token = await accessToken();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.stop();
        return;
      }
      this.retry(`Could not refresh the session: ${String(e)}`);
      return;
    }
    if (!this.running) return;
    let ws: WebSocket;
    try {
      // Browsers cannot set headers on a WebSocket: the token travels as a subprotocol.
      ws = new WebSocket(this.url, ["orbit.v1", `orbit.bearer.${token}`]);
    } catch (e) {
      this.retry(String(e));
      return;
    }
    this.ws = ws;
    this.helloSeen = false;
    this.connectTimer = setTimeout(() => {
      if (this.ws === ws && !this.helloSeen) this.drop(ws, "Orbit did not answer in time.");
    }, CONNECT_TIMEOUT_MS);
    ws.onmessage = (event) => this.frame(ws, event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      if (event.code === 4003) {
        // Revoked (SPEC §2): from this device's settings or another one.
        this.teardown("stopped");
        this.running = false;
        endSession("session_revoked");
        this.set("stopped", "This session was revoked.");
        return;
      }
      this.drop(ws, event.reason || `The connection closed (${event.code}).`);
    };
    ws.onerror = () => {
      // onclose follows with the details.
    };
  }

  private frame(ws: WebSocket, data: unknown): void {
    if (this.ws !== ws || typeof data !== "string") return;
    this.lastFrameAt = Date.now();
    if (this.pingTimer) {
      clearTimeout(this.pingTimer);
      this.pingTimer = null;
    }
    let msg: (RpcMessage & { type?: string }) | null;
    try {
      msg = JSON.parse(data) as RpcMessage & { type?: string };
    } catch {
      return;
    }
    if (!msg || typeof msg !== "object") return;
    if (typeof msg.type === "string") {
      this.controlFrame(msg as unknown as Control);
      return;
    }
    // An answer to one of our requests: numeric ids are ours, Orbit gives anchors' requests
    // string ids (`orbit-srv:N`).
    if (typeof msg.id === "number" && msg.method === undefined) {
      const pending = this.pending.get(msg.id);
      if (!pending) return;
      this.pending.delete(msg.id);
      clearTimeout(pending.timer);
      if (msg.error) {
        const code = msg.error.data?.code ?? "rpc_error";
        pending.reject(new RequestError(code, msg.error.message));
      } else {
        pending.resolve(msg.result);
      }
      return;
    }
    const threadId = msg.params?.threadId;
    if (typeof msg.seq === "number" && typeof threadId === "string") {
      if (!this.seqs.accept(threadId, msg.seq)) return;
      for (const listener of this.threadListeners.get(threadId) ?? []) listener(msg);
    }
    for (const listener of this.messageListeners) listener(msg);
  }

  private controlFrame(frame: Control): void {
    switch (frame.type) {
      case "pong":
        return;
      case "orbit.hello":
        this.opened();
        break;
      case "orbit.subscribed": {
        if (this.seqs.subscribed(frame.threadId, frame.seq, frame.truncated ?? false)) {
          for (const reload of this.truncatedListeners.get(frame.threadId) ?? []) reload();
        }
        break;
      }
      default:
        break;
    }
    for (const listener of this.controlListeners) listener(frame);
  }

  private opened(): void {
    this.helloSeen = true;
    this.attempt = 0;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.set("open", null);
    for (const { threadId, lastSeq } of this.seqs.subscriptions()) this.sendSubscribe(threadId, lastSeq);
    this.heartbeat ??= setInterval(() => this.checkStale(), 10_000);
    for (const listener of this.openListeners) listener();
  }

  private sendSubscribe(threadId: string, lastSeq: number | null): void {
    this.send(
      lastSeq === null
        ? { type: "orbit.subscribe", threadId }
        : { type: "orbit.subscribe", threadId, sinceSeq: lastSeq },
    );
  }

  private send(value: unknown): void {
    try {
      this.ws?.send(JSON.stringify(value));
    } catch {
      // The close event follows.
    }
  }

  /** Checks the link now: after sleep, a network change, or the page coming back. */
  private readonly wake = (): void => {
    if (!this.running) return;
    if (typeof document !== "undefined" && document.visibilityState === "hidden") {
      this.hiddenAt ??= Date.now();
      return;
    }
    const hiddenFor = this.hiddenAt === null ? 0 : Date.now() - this.hiddenAt;
    this.hiddenAt = null;
    if (!this.isOpen()) {
      // Do not wait out a backoff delay that started while the device slept.
      if (this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this.attempt = 0;
        void this.connect();
      } else if (!this.ws) {
        void this.connect();
      }
      return;
    }
    const silentFor = Date.now() - this.lastFrameAt;
    if (hiddenFor >= STALE_MS && silentFor >= STALE_MS && this.pending.size === 0 && this.ws) {
      // Back from a long sleep to a link silent all along: the OS has most likely dropped it
      // without telling us. A new link (and the replay of what was missed) is quicker than
      // waiting for a ping to go unanswered, and nothing is in flight to be lost.
      this.replace(this.ws);
    } else if (silentFor > 5_000) {
      this.ping(WAKE_PING_DEADLINE_MS);
    }
  };

  /** Swaps the link for a new one at once, without a backoff delay. */
  private replace(ws: WebSocket): void {
    this.teardown("reconnecting");
    try {
      ws.close();
    } catch {
      // already closed
    }
    this.set("reconnecting", "Reconnecting after sleep.");
    this.attempt = 0;
    void this.connect();
  }

  private readonly wentOffline = (): void => {
    if (this.ws) this.drop(this.ws, "This device went offline.");
  };

  private checkStale(): void {
    if (!this.isOpen()) return;
    // A hidden page (a phone in a pocket) does not keep the radio busy: `wake` checks the link
    // the moment the page is shown again.
    if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
    if (Date.now() - this.lastFrameAt > STALE_MS) this.ping();
  }

  /** A ping that must be answered (by any frame) within `deadlineMs`. */
  private ping(deadlineMs = PING_DEADLINE_MS): void {
    if (this.pingTimer || !this.ws) return;
    const ws = this.ws;
    this.send({ type: "ping" });
    this.pingTimer = setTimeout(() => {
      this.pingTimer = null;
      if (this.ws === ws) this.drop(ws, "Orbit stopped answering.");
    }, deadlineMs);
  }

  private drop(ws: WebSocket, why: string): void {
    if (this.ws !== ws) return;
    this.teardown("reconnecting");
    try {
      ws.close();
    } catch {
      // already closed
    }
    this.retry(why);
  }

  private retry(why: string): void {
    if (!this.running) return;
    const offline = typeof navigator !== "undefined" && navigator.onLine === false;
    this.set(offline ? "offline" : "reconnecting", offline ? "This device is offline." : why);
    // Offline, the `online` event reconnects at once; the backoff keeps trying meanwhile.
    const delay = backoffDelay(this.attempt++, Math.random());
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  /** Forgets the socket and fails every request in flight: they never hang. */
  private teardown(link: Link): void {
    const ws = this.ws;
    this.ws = null;
    this.helloSeen = false;
    for (const timer of [this.connectTimer, this.retryTimer, this.pingTimer]) if (timer) clearTimeout(timer);
    this.connectTimer = this.retryTimer = this.pingTimer = null;
    if (link === "stopped" && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      if (link === "stopped") ws.close();
    }
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      p.reject(new RequestError("connection_lost", `The connection to Orbit dropped during ${p.method}.`));
    }
  }

  private set(link: Link, lastError: string | null): void {
    const down = link === "reconnecting" || link === "offline";
    if (!down && this.downTimer) {
      clearTimeout(this.downTimer);
      this.downTimer = null;
    }
    this.state.update((s) => ({
      link,
      lastError: lastError ?? (down ? s.lastError : null),
      visiblyDown: down ? s.visiblyDown || link === "offline" : false,
    }));
    if (down && !this.downTimer) {
      this.downTimer = setTimeout(() => {
        this.downTimer = null;
        this.state.update((s) =>
          s.link === "reconnecting" || s.link === "offline" ? { ...s, visiblyDown: true } : s,
        );
      }, SHOW_DOWN_AFTER_MS);
    }
  }
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function defaultUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}/ws/client`;
}
