// The client's side of step-up: a sensitive change refused with `step_up_required` is confirmed
// in the dialog and tried exactly once more; a cancel leaves the refusal (nothing changed).
import { describe, expect, it, vi } from "vitest";

import { ApiError } from "../src/lib/api/http";
import { withStepUp, type Confirm } from "../src/lib/auth/stepUp";

const stale = () =>
  new ApiError(403, "step_up_required", "confirm it's you", null, ["passkey", "totp"]);

/** An action refused `refusals` times, then answering "done". */
function action(refusals: number) {
  let calls = 0;
  const run = vi.fn(async () => {
    calls += 1;
    if (calls <= refusals) throw stale();
    return "done";
  });
  return run;
}

describe("withStepUp", () => {
  it("does not ask when the action succeeds", async () => {
    const confirm = vi.fn<Confirm>(async () => true);
    const run = action(0);
    await expect(withStepUp(run, confirm)).resolves.toBe("done");
    expect(confirm).not.toHaveBeenCalled();
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("asks with the account's methods, then retries once", async () => {
    const confirm = vi.fn<Confirm>(async () => true);
    const run = action(1);
    await expect(withStepUp(run, confirm)).resolves.toBe("done");
    expect(confirm).toHaveBeenCalledWith(["passkey", "totp"]);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it("a cancel runs nothing again and says nothing changed", async () => {
    const confirm = vi.fn<Confirm>(async () => false);
    const run = action(1);
    const failure = withStepUp(run, confirm);
    await expect(failure).rejects.toMatchObject({ code: "step_up_required" });
    await expect(failure).rejects.toThrow(/nothing was changed/);
    expect(run).toHaveBeenCalledTimes(1);
  });

  it("retries only once: a second refusal is thrown, not asked again", async () => {
    const confirm = vi.fn<Confirm>(async () => true);
    const run = action(2);
    await expect(withStepUp(run, confirm)).rejects.toMatchObject({ code: "step_up_required" });
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it("other refusals pass through untouched", async () => {
    const confirm = vi.fn<Confirm>(async () => true);
    const refused = new ApiError(409, "last_sign_in_method", "no");
    await expect(withStepUp(() => Promise.reject(refused), confirm)).rejects.toBe(refused);
    expect(confirm).not.toHaveBeenCalled();
  });

  it("without a dialog, or without a method to offer, the refusal stands", async () => {
    await expect(withStepUp(action(1), null)).rejects.toMatchObject({ code: "step_up_required" });
    const confirm = vi.fn<Confirm>(async () => true);
    const none = new ApiError(403, "step_up_required", "no way to confirm", null, []);
    await expect(withStepUp(() => Promise.reject(none), confirm)).rejects.toBe(none);
    expect(confirm).not.toHaveBeenCalled();
  });

  it("two actions refused at once share one confirmation", async () => {
    let release: (ok: boolean) => void = () => {};
    const confirm = vi.fn<Confirm>(() => new Promise<boolean>((r) => (release = r)));
    const a = withStepUp(action(1), confirm);
    const b = withStepUp(action(1), confirm);
    await vi.waitFor(() => expect(confirm).toHaveBeenCalledTimes(1));
    release(true);
    await expect(Promise.all([a, b])).resolves.toEqual(["done", "done"]);
    expect(confirm).toHaveBeenCalledTimes(1);
  });
});
