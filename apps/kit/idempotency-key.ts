import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from './errors.js';
import { schemas } from './validation.js';

/** Header naming one logical request; the mesh retries writes that carry it (charts/platform.ts). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

const KEY_FORM = new RegExp(schemas.idempotencyKey.pattern);

/** The request's idempotency key, undefined when it sent none; 400 IDEMPOTENCY_KEY_INVALID when malformed. */
export function idempotencyKeyOf(headers: IncomingHttpHeaders): string | undefined {
  const key = headers[IDEMPOTENCY_KEY_HEADER];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !KEY_FORM.test(key))
    throw new AppError(400, 'IDEMPOTENCY_KEY_INVALID', `${IDEMPOTENCY_KEY_HEADER} must be 1-255 printable ASCII characters without spaces`);
  return key;
}

/** The request's idempotency key; 400 IDEMPOTENCY_KEY_MISSING when absent, for writes only safe to retry with one. */
export function requireIdempotencyKey(headers: IncomingHttpHeaders): string {
  const key = headers[IDEMPOTENCY_KEY_HEADER] === '' ? undefined : idempotencyKeyOf(headers);
  if (key === undefined)
    throw new AppError(400, 'IDEMPOTENCY_KEY_MISSING', `send an ${IDEMPOTENCY_KEY_HEADER} header: this write is only safe to retry with one`);
  return key;
}
