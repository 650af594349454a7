// The signed-in app's shared state: one connection to Orbit while signed in, the user's anchors
// with presence, and the prompts waiting for a person.
import { get, writable, type Readable } from "svelte/store";

import { session } from "./auth/session";
import { Connection, type RpcMessage } from "./conn/connection";
import type { AnchorInfo } from "./protocol/AnchorInfo";
import { applyPresence } from "./state/anchors";
import { Prompts, type Prompt } from "./state/approvals";

const anchorList = writable<AnchorInfo[]>([]);
/** The user's anchors, online first. */
export const anchors: Readable<AnchorInfo[]> = { subscribe: anchorList.subscribe };

const prompts = new Prompts();
const promptList = writable<Prompt[]>([]);
/** Every prompt, open or recently settled (the view shows the settled ones with a note). */
export const promptsView: Readable<Prompt[]> = { subscribe: promptList.subscribe };

const conn = writable<Connection | null>(null);
/** This tab's connection id (from `orbit.hello`), to recognise its own answers. */
let myConnection: string | null = null;
/** The connection to Orbit while signed in. */
export const connection: Readable<Connection | null> = { subscribe: conn.subscribe };

function publishPrompts(): void {
  prompts.prune(Date.now(), 30_000);
  promptList.set(prompts.all().map((p) => ({ ...p })));
}

function message(msg: RpcMessage): void {
  const now = Date.now();
  if (typeof msg.id === "string" && msg.method) {
    if (prompts.add({ id: msg.id, method: msg.method, params: msg.params ?? {}, seq: msg.seq, origin: msg.origin }))
      publishPrompts();
    return;
  }
  if (typeof msg.id === "string" && msg.error) {
    // Orbit refused this device's answer to a prompt.
    if (prompts.refused(msg.id, msg.error.data?.code ?? "", now)) publishPrompts();
    return;
  }
  const params = msg.params ?? {};
  if (msg.method === "serverRequest/resolved" && typeof params.requestId === "string") {
    if (prompts.resolved(params.requestId, now, params.reason)) publishPrompts();
  } else if (msg.method === "turn/completed") {
    const turn = params.turn as { id?: string } | undefined;
    if (typeof params.threadId === "string" && turn?.id) {
      prompts.withdrawTurn(params.threadId, turn.id, now);
      publishPrompts();
    }
  }
}

/** Answers a prompt from this device (once). */
export function answerPrompt(id: string, result: unknown): void {
  const c = get(conn);
  if (!c || !prompts.answer(id, result)) return;
  c.respond(id, result);
  publishPrompts();
}

session.subscribe((s) => {
  const current = get(conn);
  if (s && !current) {
    const c = new Connection();
    c.onControl((frame) => {
      if (frame.type === "orbit.hello") myConnection = frame.connectionId;
      if (frame.type === "orbit.answered") {
        const { requestId, connectionId, device, at } = frame;
        if (prompts.answered(requestId, { connectionId, device, at }, myConnection)) publishPrompts();
        return;
      }
      // A machine the list does not hold yet: Orbit pushes `orbit.anchors` when a pairing is
      // approved, so this happens only when that push was lost; ask for the list, which
      // holds the name the machine was approved under (docs/protocol.md).
      if (frame.type === "orbit.anchor-connected" && !get(anchorList).some((a) => a.anchorId === frame.anchor.anchorId)) {
        c.control({ type: "orbit.list-anchors" });
      }
      const next = applyPresence(get(anchorList), frame);
      if (next) anchorList.set(next);
    });
    c.onMessage(message);
    conn.set(c);
    c.start();
  } else if (!s && current) {
    current.stop();
    conn.set(null);
    anchorList.set([]);
  }
});
