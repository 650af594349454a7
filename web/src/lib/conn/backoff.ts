// Reconnect delays: exponential with full jitter, so a crowd of clients that lost Orbit at the
// same moment does not come back at the same moment.

export interface BackoffConfig {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = { baseMs: 500, capMs: 30_000 };

/** The delay before attempt `attempt` (0 for the first retry); `random` is in [0, 1). */
export function backoffDelay(attempt: number, random: number, config = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(config.capMs, config.baseMs * 2 ** Math.min(attempt, 20));
  return Math.floor(ceiling * Math.min(Math.max(random, 0), 1));
}
