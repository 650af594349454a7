// Home's and Files' view of the connection: a requester that always uses the current connection
// (there is none while signed out), and whether requests can be sent right now.
import { derived, get, type Readable } from "svelte/store";

import { connection } from "../../lib/app";
import { RequestError, type RequestOptions } from "../../lib/conn/connection";
import type { Requester } from "../../lib/rpc/helpers";

export const orbit: Requester = {
  request<T>(method: string, params: Record<string, unknown>, options?: RequestOptions): Promise<T> {
    const c = get(connection);
    if (!c) return Promise.reject(new RequestError("connection_lost", "Not connected to Orbit."));
    return c.request<T>(method, params, options);
  },
};

/**
 * True while the link to Orbit is open. Requests sent otherwise fail at once, so screens wait for
 * this before loading, and load again when it comes back.
 */
export const linkOpen: Readable<boolean> = derived(
  connection,
  (c, set) => {
    if (!c) {
      set(false);
      return;
    }
    return c.link.subscribe((s) => set(s.link === "open"));
  },
  false,
);
