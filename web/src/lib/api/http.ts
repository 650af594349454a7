// Calls to Orbit's HTTP API: JSON in, JSON out, refusals as `ApiError` with Orbit's code.
import type { ApiErrorBody } from "../protocol/ApiErrorBody";
import type { DeviceTokenError } from "../protocol/DeviceTokenError";
import type { ErrorCode } from "../protocol/ErrorCode";
import type { StepUpMethod } from "../protocol/StepUpMethod";

/** A refused or failed call. `code` is Orbit's ErrorCode, or "network" when Orbit was not reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode | "network" | "unexpected";
  /** Seconds to wait, from `Retry-After` (rate limits). */
  readonly retryAfter: number | null;
  /** `step_up_required`: the ways this account can confirm it is you. */
  readonly methods: StepUpMethod[];

  constructor(
    status: number,
    code: ErrorCode | "network" | "unexpected",
    message: string,
    retryAfter: number | null = null,
    methods: StepUpMethod[] = [],
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.methods = methods;
  }
}

export interface CallOptions {
  body?: unknown;
  /** A web access token, sent as `Authorization: Bearer`. */
  token?: string | null;
  signal?: AbortSignal;
}

/** One call. Throws `ApiError` for every non-2xx answer and for network failures. */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      // Tokens travel in headers only: no cookie is ever sent or needed.
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "network", `Orbit could not be reached (${String(e)})`);
  }
  const text = await response.text();
  const json = parseJson(text);
  if (response.ok) return json as T;
  throw refusal(response, json, text);
}

function parseJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function refusal(response: Response, json: unknown, text: string): ApiError {
  const retry = response.headers.get("Retry-After");
  const retryAfter = retry !== null && /^\d+$/.test(retry) ? Number(retry) : null;
  const error = (json as { error?: unknown } | null)?.error;
  if (typeof error === "object" && error !== null && "code" in error) {
    const { code, message, methods } = error as ApiErrorBody["error"];
    const known = (methods ?? []).filter((m) => m === "passkey" || m === "totp");
    return new ApiError(response.status, code, message, retryAfter, known);
  }
  if (typeof error === "string") {
    // RFC 8628's shape, from the device token endpoint.
    const code = error as DeviceTokenError["error"];
    return new ApiError(response.status, code, code, retryAfter);
  }
  return new ApiError(
    response.status,
    "unexpected",
    `Orbit answered ${response.status}: ${text.slice(0, 200)}`,
    retryAfter,
  );
}

/** A refusal in words a person can act on. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "rate_limited" && error.retryAfter !== null) {
      return `Too many attempts. Try again in ${error.retryAfter} s.`;
    }
    return error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
