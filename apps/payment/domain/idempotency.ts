import { createHash } from 'node:crypto';
import { AppError, ConflictError } from '../../kit/index.js';

/** The answer stored under a key and given again to every repeat of the request. */
export type StoredOutcome =
  | { readonly status: number; readonly body: unknown }
  | { readonly status: number; readonly error: { readonly code: string; readonly message: string; readonly details?: unknown } };

export class IdempotencyKeyReusedError extends ConflictError {
  constructor() {
    super('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for a different request; use a new key for a new request');
  }
}

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Identifies "the same request": operation, target and body. */
export function fingerprint(operation: string, target: string, body: unknown): string {
  return createHash('sha256')
    .update(`${operation}\n${target}\n${canonicalJson(body)}`)
    .digest('hex');
}

/** Turns a stored outcome into the reply (errors re-raised so they carry this request's id). */
export function replay(outcome: StoredOutcome): { status: number; body: unknown } {
  if ('error' in outcome) throw new AppError(outcome.status, outcome.error.code, outcome.error.message, outcome.error.details);
  return outcome;
}
