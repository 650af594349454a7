// Messages on their way out. Every message goes through here: sent at once when the thread is
// idle, queued while a turn runs (codex would otherwise take it as steering the running turn)
// and sent when that turn completes, kept with its error and a Retry when the send failed
// (connection dropped, anchor offline) — never a spinner that spins forever. Functions over a
// plain array, so the view can hold the array in `$state`.

/** An image attached to a message, already scaled to fit a frame. */
export interface Attachment {
  id: number;
  name: string;
  /** `data:` URL. */
  url: string;
  width: number;
  height: number;
  /** The file as picked, to scale again smaller if the text grows. */
  source: Blob;
}

export type OutgoingState = "queued" | "sending" | "failed";

export interface Outgoing {
  id: number;
  text: string;
  images: Attachment[];
  state: OutgoingState;
  error: string | null;
}

let nextId = 1;

export function enqueue(list: Outgoing[], text: string, images: Attachment[]): Outgoing {
  const item: Outgoing = { id: nextId++, text, images, state: "queued", error: null };
  list.push(item);
  return item;
}

/**
 * The message to send now, if any: the first in line, when it is waiting, nothing is being sent,
 * and no turn is running. Messages go in order: one that failed holds back those behind it.
 */
export function nextToSend(list: Outgoing[], turnRunning: boolean): Outgoing | null {
  const head = list[0];
  if (!head || head.state !== "queued" || turnRunning) return null;
  return head;
}

export function markSending(list: Outgoing[], id: number): void {
  const item = list.find((m) => m.id === id);
  if (item) {
    item.state = "sending";
    item.error = null;
  }
}

/** The turn started: the message is codex's now. */
export function markSent(list: Outgoing[], id: number): void {
  const i = list.findIndex((m) => m.id === id);
  if (i >= 0) list.splice(i, 1);
}

export function markFailed(list: Outgoing[], id: number, error: string): void {
  const item = list.find((m) => m.id === id);
  if (item) {
    item.state = "failed";
    item.error = error;
  }
}

/** Puts a failed message back in line (it is sent when its turn comes). */
export function retry(list: Outgoing[], id: number): void {
  const item = list.find((m) => m.id === id);
  if (item?.state === "failed") {
    item.state = "queued";
    item.error = null;
  }
}

/** Takes a message out of line (to drop it or edit it); one being sent cannot be taken back. */
export function cancel(list: Outgoing[], id: number): Outgoing | null {
  const i = list.findIndex((m) => m.id === id);
  const item = list[i];
  if (!item || item.state === "sending") return null;
  list.splice(i, 1);
  return item;
}
