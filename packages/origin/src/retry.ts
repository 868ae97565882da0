import { setTimeout as sleepFor } from 'node:timers/promises';
import { DEFAULT_MAX_RETRY_DELAY_MS, DEFAULT_RETRY_DELAY_MS } from './constants.ts';
import { abortError } from './http-errors.ts';

/** How long to wait before retrying. */
export interface BackoffOptions {
  /** First delay in ms (doubles per consecutive failure). */
  baseMs?: number;
  /** Cap of any one delay in ms (also caps a server's Retry-After). */
  maxMs?: number;
}

/**
 * The delay before retry number `attempt` (1-based): exponential with "equal jitter" (half
 * fixed, half random), so that the parallel ranges of one blob, which tend to fail together
 * when the origin hiccups, do not come back in lockstep. A server's Retry-After wins when
 * longer, up to the cap.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, retryAfterMs?: number): number {
  const base = options.baseMs ?? DEFAULT_RETRY_DELAY_MS;
  const max = options.maxMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  const delay = exp / 2 + Math.random() * (exp / 2);
  return Math.min(max, Math.max(delay, retryAfterMs ?? 0));
}

/** Waits `ms`, rejecting with ABORTED (or the signal's ShoalError reason) when `signal` aborts. */
export async function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  try {
    await sleepFor(ms, undefined, signal ? { signal } : undefined);
  } catch {
    throw abortError(signal, what);
  }
}
