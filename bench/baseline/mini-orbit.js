// A deliberately minimal relay in plain JavaScript, for orbit-bench's baseline experiment
// (`orbit-bench --baseline`). It speaks just enough of Orbit's protocol for the benchmark's
// scenarios — dev sessions, orbit.hello/anchors, subscribe, barrier errors, request-id return
// addresses, per-thread seq — on the same runtime pieces Orbit uses (one Durable Object per
// user, hibernatable WebSockets, the ping auto-response, SQLite storage), so the difference
// between its figures and Orbit's is the cost of Orbit's own code (Rust → wasm, the router).
// PERSIST: "1" INSERTs every thread frame into SQLite as it is handled, one statement per frame
// and so one commit per frame, as Orbit does; "batch" keeps the frames in memory and INSERTs
// them together from a timer every BATCH_MS (or once BATCH_MAX are waiting), one commit per
// batch; anything else persists nothing. No authentication: never deploy this.

const json = (v, status = 200) =>
  new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });
const rid = () => crypto.randomUUID().replaceAll("-", "").slice(0, 16);

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return json({ status: "ok", version: "baseline" });
    if (url.pathname === "/__dev/session" && request.method === "POST") {
      const body = await request.json().catch(() => ({}));
      const userId = body.userId || rid();
      const anchorId = body.anchorName ? rid() : body.anchorId || null;
      const role = anchorId ? "anchor" : "client";
      return json({ userId, sessionId: rid(), anchorId, accessToken: `${userId}.${role}.${anchorId || ""}` });
    }
    if (url.pathname === "/ws/client" || url.pathname === "/ws/anchor") {
      if (request.headers.get("Upgrade") !== "websocket") return json({ error: { code: "upgrade_required" } }, 426);
      const auth = request.headers.get("Authorization") || "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : url.searchParams.get("token") || "";
      const [userId, role, anchorId] = token.split(".");
      if (!userId || role !== url.pathname.slice(4)) return json({ error: { code: "token_malformed" } }, 401);
      const stub = env.HUB.get(env.HUB.idFromName(userId));
      const headers = new Headers(request.headers);
      headers.set("x-admit", JSON.stringify({ userId, role, anchorId }));
      return stub.fetch(new Request(request, { headers }));
    }
    return json({ error: { code: "not_found" } }, 404);
  },
};

export class Hub {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.persist = env.PERSIST || "0";
    this.batchMs = Number(env.BATCH_MS || 10);
    this.batchMax = Number(env.BATCH_MAX || 512);
    this.pending = [];
    this.timer = null;
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
    this.ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS log (thread TEXT NOT NULL, seq INTEGER NOT NULL, frame TEXT NOT NULL, PRIMARY KEY (thread, seq)) WITHOUT ROWID",
    );
    this.seqs = new Map(); // thread -> last seq
    this.subs = null; // thread -> Set<WebSocket>, rebuilt from attachments on wake
    this.conns = null; // conn -> WebSocket
  }

  wake() {
    if (this.subs) return;
    this.subs = new Map();
    this.conns = new Map();
    for (const ws of this.ctx.getWebSockets()) {
      const att = ws.deserializeAttachment();
      if (!att) continue;
      this.conns.set(att.c, ws);
      for (const t of att.s) this.sub(t, ws);
    }
  }

  sub(thread, ws) {
    let set = this.subs.get(thread);
    if (!set) this.subs.set(thread, (set = new Set()));
    set.add(ws);
  }

  async fetch(request) {
    this.wake();
    const admit = JSON.parse(request.headers.get("x-admit"));
    const pair = new WebSocketPair();
    const c = rid();
    this.ctx.acceptWebSocket(pair[1], [c]);
    pair[1].serializeAttachment({ c, r: admit.role, s: [] });
    this.conns.set(c, pair[1]);
    pair[1].send(JSON.stringify({ type: "orbit.hello", role: admit.role, userId: admit.userId, connectionId: c, serverTime: Date.now() }));
    if (admit.role === "client") pair[1].send(JSON.stringify({ type: "orbit.anchors", anchors: [] }));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  webSocketMessage(ws, text) {
    this.wake();
    const att = ws.deserializeAttachment();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      ws.send('{"type":"orbit.error","code":"malformed_json","message":"not JSON"}');
      return;
    }
    if (typeof msg.type === "string") return this.control(ws, att, msg);
    if (att.r === "client") {
      if (msg.id === undefined) return;
      // workerd's own floor for a round trip through a Durable Object: answered right here.
      if (msg.method === "bench/do-echo") return ws.send(`{"id":${JSON.stringify(msg.id)},"result":${JSON.stringify(msg.params)}}`);
      msg.id = `orbit:${att.c}:${JSON.stringify(msg.id)}`;
      for (const a of this.ctx.getWebSockets()) {
        if (a.deserializeAttachment()?.r === "anchor") return a.send(JSON.stringify(msg));
      }
      return;
    }
    // From the anchor.
    if (msg.id !== undefined && msg.method === undefined) {
      const m = /^orbit:([^:]+):(.*)$/s.exec(String(msg.id));
      const client = m && this.conns.get(m[1]);
      if (!client) return;
      msg.id = JSON.parse(m[2]);
      return client.send(JSON.stringify(msg));
    }
    const thread = msg.params?.threadId;
    if (typeof thread === "string") {
      const seq = (this.seqs.get(thread) || 0) + 1;
      this.seqs.set(thread, seq);
      const out = `{"seq":${seq},${text.trimStart().slice(1)}`;
      if (this.persist === "1") this.insert([[thread, seq, out]]);
      else if (this.persist === "batch") this.enqueue(thread, seq, out);
      for (const s of this.subs.get(thread) || []) s.send(out);
    } else {
      for (const s of this.ctx.getWebSockets()) if (s.deserializeAttachment()?.r === "client") s.send(text);
    }
  }

  insert(rows) {
    for (const [thread, seq, frame] of rows)
      this.ctx.storage.sql.exec("INSERT OR REPLACE INTO log (thread, seq, frame) VALUES (?, ?, ?)", thread, seq, frame);
  }

  enqueue(thread, seq, frame) {
    this.pending.push([thread, seq, frame]);
    if (this.pending.length >= this.batchMax) return this.flush();
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.batchMs);
  }

  flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const rows = this.pending;
    this.pending = [];
    this.insert(rows);
  }

  control(ws, att, msg) {
    switch (msg.type) {
      case "anchor.hello":
        return;
      case "orbit.subscribe": {
        att.s.push(msg.threadId);
        ws.serializeAttachment(att);
        this.sub(msg.threadId, ws);
        return ws.send(JSON.stringify({ type: "orbit.subscribed", threadId: msg.threadId, seq: this.seqs.get(msg.threadId) || 0 }));
      }
      case "ping":
        return ws.send('{"type":"pong"}');
      default:
        return ws.send(JSON.stringify({ type: "orbit.error", code: "unknown_type", message: `unknown frame type ${msg.type}` }));
    }
  }

  webSocketClose(ws, code, reason) {
    this.wake();
    const att = ws.deserializeAttachment();
    if (att) {
      this.conns.delete(att.c);
      for (const t of att.s) this.subs.get(t)?.delete(ws);
    }
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {}
  }

  webSocketError(ws) {
    this.webSocketClose(ws, 1000, "");
  }
}
