// The module workerd starts: it hands every event to the Rust code compiled to wasm
// (`./index.js` is wasm-bindgen's glue for it) and keeps the Worker usable after a panic.
//
// Built into worker/build/index.js by `cargo xtask build-worker`, which refuses to build when
// the Rust code exports an entry point (an `#[event]` handler, a `#[durable_object]` class)
// that is not imported here.
//
// Why the recovery: the Worker is built with panic=abort, so a panic leaves the wasm instance
// unusable. The glue is generated with a reset function and an abort handler: after a trap it
// replaces the instance with a fresh one on the next call, and workers-rs counts instances in
// the shared init state. Objects that lived in the old instance are dead, so each Durable
// Object below rebuilds its Rust half when the instance count has moved on. Its storage is
// untouched; only what the Rust half kept in memory starts over, as after an eviction.

import { DurableObject } from "cloudflare:workers";
import {
  fetch as rustFetch,
  UserHub as RustUserHub,
  __wbg_reset_state as resetInstance,
  __worker_init_state as initState,
} from "./index.js";

const instance = initState();

// Makes sure the instance that handles the next call is a sound one, before any object of the
// old one is used: a Rust object's method checks that it belongs to the current instance first
// and only then lets the glue replace a trapped instance, which would hand the old object's
// pointer to the new instance's memory.
function soundInstance() {
  // Any call into the glue replaces an instance that trapped (abort handler)...
  initState();
  // ...and workers-rs' panic hook flags a panic, which is replaced here.
  if (instance.criticalError) {
    console.error("orbit: the wasm instance panicked; starting a fresh one");
    instance.criticalError = false;
    resetInstance();
  }
}

export default {
  fetch(request, env, ctx) {
    soundInstance();
    return rustFetch(request, env, ctx);
  },
};

// Glue methods that are memory management, not handlers.
const NOT_HANDLERS = new Set(["constructor", "free", "__destroy_into_raw"]);
const current = Symbol("the Rust object of the current instance");

// A Durable Object class whose handlers (fetch, alarm, webSocketMessage, ...: every method the
// Rust class has) run on a Rust object that is rebuilt whenever the wasm instance was replaced.
function durableObject(RustClass) {
  class Wrapped extends DurableObject {
    #rust;
    #instanceId;

    constructor(ctx, env) {
      super(ctx, env);
      this[current]();
    }

    [current]() {
      soundInstance();
      if (this.#rust === undefined || this.#instanceId !== instance.instanceId) {
        this.#rust = new RustClass(this.ctx, this.env);
        this.#instanceId = instance.instanceId;
      }
      return this.#rust;
    }
  }
  for (const [name, property] of Object.entries(
    Object.getOwnPropertyDescriptors(RustClass.prototype),
  )) {
    if (NOT_HANDLERS.has(name) || typeof property.value !== "function") continue;
    Object.defineProperty(Wrapped.prototype, name, {
      value: function (...args) {
        return this[current]()[name](...args);
      },
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(Wrapped, "name", { value: RustClass.name });
  return Wrapped;
}

export const UserHub = durableObject(RustUserHub);
