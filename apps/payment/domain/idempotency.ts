import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AppError, ConflictError } from '../../kit/index.js';

/** Header naming one logical request; the mesh retries writes that carry it (charts/platform.ts). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** The answer stored under a key and given again to every repeat of the request. */
export type StoredOutcome =
  | { readonly status: number; readonly body: unknown }
  | { readonly status: number; readonly error: { readonly code: string; readonly message: string; readonly details?: unknown } };

export class IdempotencyKeyReusedError extends ConflictError {
  constructor() {
    super('IDEMPOTENCY_KEY_REUSED', 'this idempotency key was used for a different request; use a new key for a new request');
  }
}

export function requireIdempotencyKey(headers: IncomingHttpHeaders): string {
  const key = headers[IDEMPOTENCY_KEY_HEADER];
  if (key === undefined || key === '')
    throw new AppError(400, 'IDEMPOTENCY_KEY_MISSING', `send an ${IDEMPOTENCY_KEY_HEADER} header: this write is only safe to retry with one`);
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key))
    throw new AppError(400, 'IDEMPOTENCY_KEY_INVALID', `${IDEMPOTENCY_KEY_HEADER} must be 1-255 printable ASCII characters`);
  return key;
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
