// Step-up (docs/auth.md, Step-up): a change that adds or removes a way in, an invite or a
// device approval needs a session that proved a way in within the last few minutes. When Orbit
// answers `step_up_required`, the person is asked to confirm it's them (the dialog registered
// here), and the action is tried once more; cancelling leaves the refusal in place, so nothing
// has changed.
import { ApiError } from "../api/http";
import type { StepUpMethod } from "../protocol/StepUpMethod";

/**
 * Asks the person to confirm it's them with one of `methods`: resolves true once Orbit accepted
 * the proof, false when they cancelled.
 */
export type Confirm = (methods: StepUpMethod[]) => Promise<boolean>;

let confirmer: Confirm | null = null;

/** Installs (or, with null, removes) what asks the person: the app's dialog. */
export function setConfirmer(confirm: Confirm | null): void {
  confirmer = confirm;
}

/** The refusal a cancelled confirmation leaves: it says nothing was changed. */
export function notConfirmed(): ApiError {
  return new ApiError(403, "step_up_required", "Not confirmed, so nothing was changed.");
}

// Concurrent actions refused together share one dialog.
let asking: Promise<boolean> | null = null;

/**
 * Runs `action`; if Orbit asks for a step-up, confirms (through `confirm`, by default the
 * installed dialog) and runs it once more. A second refusal, or any other error, is thrown as
 * is; a cancelled confirmation throws `notConfirmed()`.
 */
export async function withStepUp<T>(action: () => Promise<T>, confirm: Confirm | null = confirmer): Promise<T> {
  try {
    return await action();
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== "step_up_required" || !confirm || e.methods.length === 0) throw e;
    asking ??= confirm(e.methods).finally(() => {
      asking = null;
    });
    if (!(await asking)) throw notConfirmed();
    return action();
  }
}
