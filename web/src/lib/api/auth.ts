// Typed wrappers for the /auth/* endpoints the screens use (docs/auth.md). Signed-out calls go
// through `call`; signed-in ones through `authed`, which adds the session's token and refreshes
// it once when Orbit says it expired. Every refusal is an `ApiError` with Orbit's code.
import {
  startAuthentication,
  startRegistration,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON as CreationOptions,
  type PublicKeyCredentialRequestOptionsJSON as RequestOptions,
  type RegistrationResponseJSON,
} from "@simplewebauthn/browser";

import { authed } from "../auth/session";
import type { AnchorList } from "../protocol/AnchorList";
import type { AnchorRenamed } from "../protocol/AnchorRenamed";
import type { DeviceAuthorised } from "../protocol/DeviceAuthorised";
import type { DeviceLookup } from "../protocol/DeviceLookup";
import type { Invite } from "../protocol/Invite";
import type { PasskeyAdded } from "../protocol/PasskeyAdded";
import type { PasskeyList } from "../protocol/PasskeyList";
import type { PasskeyLoginOptions } from "../protocol/PasskeyLoginOptions";
import type { PasskeyRegisterOptions } from "../protocol/PasskeyRegisterOptions";
import type { PasskeyRemoved } from "../protocol/PasskeyRemoved";
import type { Revocation } from "../protocol/Revocation";
import type { SessionInfo } from "../protocol/SessionInfo";
import type { SessionList } from "../protocol/SessionList";
import type { SignedIn } from "../protocol/SignedIn";
import type { StepUpPasskeyOptions } from "../protocol/StepUpPasskeyOptions";
import type { SteppedUp } from "../protocol/SteppedUp";
import type { TotpEnrollment } from "../protocol/TotpEnrollment";
import type { TotpStatus } from "../protocol/TotpStatus";
import { call } from "./http";

const e = encodeURIComponent;

/** A new account: its name, and the invite that admits it while registration is closed. */
export interface NewAccount {
  name: string;
  invite?: string;
}

// The protocol types name the DOM's WebAuthn JSON types, whose enums are plain strings;
// @simplewebauthn/browser wants its own (the same shape with string unions). Orbit builds
// these options itself (docs/auth.md, Passkeys), so narrowing them here is safe.
function requestOptions(o: PasskeyLoginOptions | StepUpPasskeyOptions): RequestOptions {
  return o.publicKey as RequestOptions;
}
function creationOptions(o: PasskeyRegisterOptions): CreationOptions {
  return o.publicKey as CreationOptions;
}

/** Drops empty optional fields: Orbit reads `invite: ""` as an invite, and a bad one. */
function newAccountBody(account: NewAccount): NewAccount {
  const invite = account.invite?.trim();
  return invite ? { name: account.name.trim(), invite } : { name: account.name.trim() };
}

// Ways in. Sign-in and sign-up go without a token; adding, listing and removing with one.

export const passkey = {
  loginOptions: () => call<PasskeyLoginOptions>("POST", "/auth/passkey/login/options", { body: {} }),
  loginVerify: (challengeId: string, credential: AuthenticationResponseJSON) =>
    call<SignedIn>("POST", "/auth/passkey/login/verify", { body: { challengeId, credential } }),
  /** Creation options for a new account. */
  signUpOptions: (account: NewAccount) =>
    call<PasskeyRegisterOptions>("POST", "/auth/passkey/register/options", { body: newAccountBody(account) }),
  signUpVerify: (challengeId: string, credential: RegistrationResponseJSON, label?: string) =>
    call<SignedIn>("POST", "/auth/passkey/register/verify", { body: { challengeId, credential, label } }),
  /** Creation options to add a passkey to the signed-in account. */
  addOptions: () => authed<PasskeyRegisterOptions>("POST", "/auth/passkey/register/options", {}),
  addVerify: (challengeId: string, credential: RegistrationResponseJSON, label?: string) =>
    authed<PasskeyAdded>("POST", "/auth/passkey/register/verify", { challengeId, credential, label }),
  list: () => authed<PasskeyList>("GET", "/auth/passkeys"),
  remove: (id: string) => authed<PasskeyRemoved>("DELETE", `/auth/passkeys/${e(id)}`),
};

export const totp = {
  login: (name: string, code: string) =>
    call<SignedIn>("POST", "/auth/totp/login", { body: { name: name.trim(), code } }),
  /** Starts a new account with TOTP as its first way in. */
  signUpStart: (account: NewAccount) =>
    call<TotpEnrollment>("POST", "/auth/totp/enroll/start", { body: newAccountBody(account) }),
  signUpVerify: (enrollmentId: string, code: string) =>
    call<SignedIn>("POST", "/auth/totp/enroll/verify", { body: { enrollmentId, code } }),
  /** Adds TOTP to the signed-in account (or replaces it, given a current code). */
  enableStart: (code?: string) =>
    authed<TotpEnrollment>("POST", "/auth/totp/enroll/start", code ? { code } : {}),
  enableVerify: (enrollmentId: string, code: string) =>
    authed<TotpStatus>("POST", "/auth/totp/enroll/verify", { enrollmentId, code }),
  disable: (code: string) => authed<TotpStatus>("POST", "/auth/totp/disable", { code }),
};

// Signed in: the account, its sessions and what it has paired.

export const account = {
  session: () => authed<SessionInfo>("GET", "/auth/session"),
  sessions: () => authed<SessionList>("GET", "/auth/sessions"),
  revokeSession: (id: string) => authed<Revocation>("DELETE", `/auth/sessions/${e(id)}`),
  anchors: () => authed<AnchorList>("GET", "/auth/anchors"),
  renameAnchor: (id: string, name: string) =>
    authed<AnchorRenamed>("PATCH", `/auth/anchors/${e(id)}`, { name }),
  revokeAnchor: (id: string) => authed<Revocation>("DELETE", `/auth/anchors/${e(id)}`),
  invite: () => authed<Invite>("POST", "/auth/invites", {}),
};

export type DeviceNamed = { userCode: string } | { link: string };

export const device = {
  /** A grant named by the code the person typed, or by the token of `anchor login`'s link. */
  lookup: (named: DeviceNamed) => authed<DeviceLookup>("POST", "/auth/device/lookup", named),
  /** Approving a grant named by a link needs `confirm`: the code's first characters, typed. */
  authorise: (named: DeviceNamed, approve: boolean, name?: string, confirm?: string) =>
    authed<DeviceAuthorised>("POST", "/auth/device/authorise", {
      ...named,
      ...(confirm !== undefined ? { confirm } : {}),
      approve,
      ...(name ? { name } : {}),
    }),
};

// Step-up: the signed-in session proves a way in again before a sensitive change.

export const stepUp = {
  totp: (code: string) => authed<SteppedUp>("POST", "/auth/step-up/totp", { code }),
  passkeyOptions: () => authed<StepUpPasskeyOptions>("POST", "/auth/step-up/passkey/options", {}),
  passkeyVerify: (challengeId: string, credential: AuthenticationResponseJSON) =>
    authed<SteppedUp>("POST", "/auth/step-up/passkey/verify", { challengeId, credential }),
};

// The passkey ceremonies, whole: options from Orbit, the browser's prompt, Orbit's verdict.
// The browser throws a DOMException-named error (`NotAllowedError` when the person cancels or
// the prompt times out); see `explain` in components/auth/wording.ts for the words.

/** Signs in with any passkey this device offers for Orbit (discoverable: no name asked). */
export async function signInWithPasskey(): Promise<SignedIn> {
  const options = await passkey.loginOptions();
  const credential = await startAuthentication({ optionsJSON: requestOptions(options) });
  return passkey.loginVerify(options.challengeId, credential);
}

/** Creates an account whose first way in is a new passkey. */
export async function createAccountWithPasskey(account: NewAccount, label?: string): Promise<SignedIn> {
  const options = await passkey.signUpOptions(account);
  const credential = await startRegistration({ optionsJSON: creationOptions(options) });
  return passkey.signUpVerify(options.challengeId, credential, label);
}

/** Confirms it's you with one of the account's passkeys (step-up). */
export async function confirmWithPasskey(): Promise<SteppedUp> {
  const options = await stepUp.passkeyOptions();
  const credential = await startAuthentication({ optionsJSON: requestOptions(options) });
  return stepUp.passkeyVerify(options.challengeId, credential);
}

/** Adds a passkey to the signed-in account. */
export async function addPasskey(label?: string): Promise<PasskeyAdded> {
  const options = await passkey.addOptions();
  const credential = await startRegistration({ optionsJSON: creationOptions(options) });
  return passkey.addVerify(options.challengeId, credential, label);
}
