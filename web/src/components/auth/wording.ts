// Every refusal the sign-in, device and settings screens can meet, in words a person can act
// on. Orbit's own messages are for developers; these say what happened and what to do next.
import { ApiError } from "../../lib/api/http";
import type { ErrorCode } from "../../lib/protocol/ErrorCode";
import { waitWords } from "./wait";

export interface Explained {
  message: string;
  /** "cancelled": the person (or the timeout) ended a passkey prompt; offer another way. */
  kind: "cancelled" | "rate_limited" | "unsupported" | "other";
  /** Seconds to wait before trying again (rate limits). */
  retryAfter: number | null;
}

const FRESH_CODE = "Enter the code your authenticator app shows now (it changes every 30 seconds).";
const PASSKEY_UNVERIFIED = "The passkey's answer could not be verified. Try again, or use another passkey.";
const DEVICE_AGAIN = "Run `anchor login` on the machine again for a new code.";

/** Words for Orbit's codes; the rest fall back to Orbit's own message. */
const WORDS: Partial<Record<ErrorCode | "network" | "unexpected", string>> = {
  network: "Orbit could not be reached. Check your connection and try again.",
  unexpected: "Orbit gave an answer this page did not expect. Try again in a moment.",
  internal_error: "Something went wrong at Orbit. Try again in a moment.",
  try_again: "Orbit is busy. Try again in a moment.",
  server_misconfigured:
    "This Orbit is not fully set up for this (a server setting is missing). Tell whoever runs it.",

  // Signed out meanwhile.
  token_missing: "You are signed out. Sign in again.",
  token_expired: "Your sign-in expired. Sign in again.",
  session_revoked: "This session was signed out. Sign in again.",

  // Accounts.
  invalid_name:
    "Names are 3 to 32 characters: lower-case letters, digits, “.”, “_” or “-”, starting with a letter or digit.",
  name_taken: "That name is taken. Choose another one.",
  registration_closed:
    "New accounts on this Orbit need an invite. Ask someone who has an account to make one in Settings → Invites, and open the link they send you.",
  invite_invalid:
    "This invite cannot be used: it was used already, or it expired (invites last 7 days). Ask for a new one.",
  step_up_required: "Confirm it's you first: this change needs a recent sign-in. Nothing was changed.",
  last_sign_in_method:
    "That is your only way to sign in, so it stays. Add another passkey or an authenticator app first.",

  // TOTP.
  invalid_code: `That code is not right, or the account name is not. ${FRESH_CODE}`,
  code_replayed: "That code was used already: each code works once. Wait for the next one (codes change every 30 seconds).",
  malformed_code: "A code is 6 digits.",
  totp_already_enabled: "An authenticator app is already on. Enter a current code from it to replace it.",
  totp_not_enabled: "No authenticator app is set up for this account.",
  enrollment_not_found: "This setup is no longer waiting (it lasts 10 minutes). Start again.",
  totp_secret_invalid: "This authenticator app setup cannot be used. Start again.",

  // Passkeys.
  passkey_not_found: "That passkey is already gone.",
  too_many_passkeys: "This account has the most passkeys it can have (32). Remove one first.",
  credential_exists: "This passkey is already registered with Orbit.",
  challenge_unknown: "The passkey request is no longer valid. Try again.",
  challenge_used: "The passkey request was already used. Try again.",
  challenge_expired: "The passkey request expired (it lasts 5 minutes). Try again.",
  unknown_credential:
    "Orbit does not know this passkey: it may have been removed, or be for another Orbit. Try another passkey, or sign in with a code.",
  counter_regressed:
    "This passkey was refused because it looks like a copy of one already used. Sign in another way and check your passkeys in Settings.",
  origin_not_allowed:
    "This Orbit does not accept passkeys from this address. Whoever runs it should check ORBIT_ALLOWED_ORIGINS.",
  rp_id_mismatch: "This passkey was made for another site. Whoever runs this Orbit should check ORBIT_RP_ID.",
  user_not_present: "The authenticator did not confirm you were there. Try again and follow its prompt.",
  user_not_verified: "The authenticator did not verify you (PIN or biometrics). Try again and follow its prompt.",
  unsupported_algorithm: "This authenticator signs in a way Orbit does not support. Use another one.",
  bad_signature: PASSKEY_UNVERIFIED,
  bad_client_data: PASSKEY_UNVERIFIED,
  wrong_type: PASSKEY_UNVERIFIED,
  challenge_mismatch: PASSKEY_UNVERIFIED,
  bad_authenticator_data: PASSKEY_UNVERIFIED,
  bad_public_key: PASSKEY_UNVERIFIED,
  bad_attestation: PASSKEY_UNVERIFIED,

  // Sessions and anchors.
  session_not_found: "That session has already ended.",
  anchor_not_found: "That machine is no longer paired.",
  sockets_not_closed:
    "It is revoked, but its open connections could not be closed just now. Orbit cuts them off within a few seconds.",

  // Device approval.
  user_code_malformed: "That is not a code Orbit makes: codes are 8 letters, shown as XXXX-XXXX.",
  user_code_unknown: "No machine is waiting with this code. Check it against the one your terminal shows.",
  user_code_expired: `This code has expired (codes last 10 minutes). ${DEVICE_AGAIN}`,
  user_code_used: `This code was used already: the machine was approved or denied with it. ${DEVICE_AGAIN}`,
  user_code_confirm_mismatch:
    "Those are not the first letters of this code. Type the first 4 letters your own terminal shows; if no terminal of yours shows one, deny it.",
};

/** Words for a code where a screen knows better (e.g. `invalid_code` with no name involved). */
export type Overrides = Partial<Record<ErrorCode, string>>;

/** `invalid_code` while confirming a new authenticator: no account name is involved. */
export const ENROL_WORDS: Overrides = {
  invalid_code: `That code is not right. ${FRESH_CODE} Check that the app shows the account you just added.`,
};

/** `invalid_code` when the signed-in person confirms with a current code. */
export const CURRENT_CODE_WORDS: Overrides = {
  invalid_code: `That code is not right. ${FRESH_CODE}`,
};

/** What went wrong, for any error a screen catches. */
export function explain(error: unknown, overrides: Overrides = {}): Explained {
  if (error instanceof ApiError) {
    if (error.code === "rate_limited") {
      const wait = error.retryAfter;
      return {
        kind: "rate_limited",
        retryAfter: wait,
        message: wait
          ? `Too many attempts. You can try again in ${waitWords(wait)}.`
          : "Too many attempts. Wait a few minutes, then try again.",
      };
    }
    const own = error.code === "network" || error.code === "unexpected" ? undefined : overrides[error.code];
    return { kind: "other", retryAfter: null, message: own ?? WORDS[error.code] ?? error.message };
  }
  const name = error instanceof Error ? error.name : "";
  const passkey = passkeyWords(name, error instanceof Error ? error.message : "");
  if (passkey) return passkey;
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "other", retryAfter: null, message: message || "Something went wrong. Try again." };
}

/** The browser's WebAuthn refusals (DOMException names, kept by @simplewebauthn/browser). */
function passkeyWords(name: string, message: string): Explained | null {
  const said = (kind: Explained["kind"], text: string): Explained => ({ kind, retryAfter: null, message: text });
  switch (name) {
    case "NotAllowedError":
    case "AbortError":
      // Browsers use NotAllowedError for cancel, timeout and "no passkey here" alike.
      return said("cancelled", "The passkey request was cancelled or timed out.");
    case "InvalidStateError":
      return said("other", "This authenticator already has a passkey for this account.");
    case "NotSupportedError":
      return said("unsupported", "This authenticator cannot make a passkey Orbit can use.");
    case "ConstraintError":
      return said("unsupported", "This authenticator cannot keep a passkey on it (Orbit needs one it stores).");
    case "SecurityError":
      return said("other", "This browser refused the passkey request for this address.");
  }
  if (/WebAuthn is not supported/i.test(message)) {
    return said("unsupported", "This browser cannot use passkeys.");
  }
  return null;
}

/** What is wrong with an account name before asking Orbit, or null (Orbit decides anyway). */
export function nameProblem(input: string): string | null {
  const name = input.trim().toLowerCase();
  if (!name) return "Enter an account name.";
  if (name.length < 3 || name.length > 32 || !/^[a-z0-9][a-z0-9._-]*$/.test(name)) return WORDS.invalid_name ?? null;
  return null;
}

/** What is wrong with a typed TOTP code, or null. */
export function codeProblem(code: string): string | null {
  if (!code) return "Enter the 6-digit code from your authenticator app.";
  return /^\d{6}$/.test(code) ? null : "A code is 6 digits.";
}

/** A TOTP code as typed, without the spaces some apps show in the middle. */
export function cleanCode(input: string): string {
  return input.replace(/\s/g, "");
}
