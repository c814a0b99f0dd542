import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import { AppError } from './errors.js';

export type { SchemaObject } from 'ajv';

/** One schema violation, as returned in `error.details`. */
export interface Violation {
  /** Where: `body`, `query`, `params` or `headers`, then a JSON pointer (`body/items/0/quantity`). */
  readonly path: string;
  readonly message: string;
}

export class ValidationError extends AppError {
  constructor(violations: readonly Violation[]) {
    super(400, 'VALIDATION_FAILED', `request does not match the schema: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`, violations);
  }
}

// Bodies are JSON: types must match exactly. Query strings and path segments are text, so numbers are coerced there.
const strict = new Ajv({ allErrors: true, strict: true, coerceTypes: false, useDefaults: true });
const coercing = new Ajv({ allErrors: true, strict: true, coerceTypes: true, useDefaults: true });

export type Validator = (value: unknown) => Violation[];

export function compileValidator(schema: SchemaObject, where: 'body' | 'query' | 'params' | 'headers'): Validator {
  const validate: ValidateFunction = (where === 'body' ? strict : coercing).compile(schema);
  return (value) => {
    const violations = validate(value) ? [] : (validate.errors ?? []).map((e) => toViolation(where, e));
    // After ajv, which has coerced query and path values into what the handler will receive.
    unstorable(value, where, violations);
    return violations;
  };
}

/**
 * What ajv lets through but the database cannot hold, anywhere in the value (keys included):
 * U+0000 (PostgreSQL text refuses it: 22021), an unpaired UTF-16 surrogate (JSON.stringify keeps
 * it as an escape that a jsonb column refuses) and a number that is not finite (JSON's 1e500, or
 * a query's `Infinity` that ajv's coercion passes through minimum and maximum unchecked).
 * It runs on every request's input, so a member's JSON pointer is built only when it is needed:
 * for a violation, or to descend into an object or array.
 */
function unstorable(value: unknown, path: string, out: Violation[]): void {
  const problem = scalarProblem(value);
  if (problem !== undefined) out.push({ path, message: problem });
  else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) member(value[i], path, String(i), out);
  } else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (scalarProblem(key) !== undefined)
        out.push({ path: pointer(path, key), message: 'has a name PostgreSQL cannot store (NUL or an unpaired surrogate)' });
      else member((value as Record<string, unknown>)[key], path, key, out);
    }
  }
}

function member(item: unknown, parent: string, key: string, out: Violation[]): void {
  if (item !== null && typeof item === 'object') {
    unstorable(item, pointer(parent, key), out);
    return;
  }
  const problem = scalarProblem(item);
  if (problem !== undefined) out.push({ path: pointer(parent, key), message: problem });
}

/** Why a string or number cannot be stored, or undefined (also for anything else). */
function scalarProblem(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
    if (!value.isWellFormed()) return 'must be well-formed Unicode (an unpaired UTF-16 surrogate was sent)';
  } else if (typeof value === 'number' && !Number.isFinite(value)) return 'must be a finite number';
  return undefined;
}

/** RFC 6901: `~` and `/` in a member name are escaped. */
function pointer(parent: string, key: string): string {
  return `${parent}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}

function toViolation(where: string, e: ErrorObject): Violation {
  if (e.keyword === 'additionalProperties') {
    return { path: `${where}${e.instancePath}`, message: `has unknown property '${String(e.params['additionalProperty'])}'` };
  }
  if (e.keyword === 'required') {
    return { path: `${where}${e.instancePath}/${String(e.params['missingProperty'])}`, message: 'is required' };
  }
  return { path: `${where}${e.instancePath}`, message: e.message ?? e.keyword };
}

/** Throws ValidationError unless `value` matches; returns it typed. */
export function assertValid<T>(validator: Validator, value: unknown): T {
  const violations = validator(value);
  if (violations.length > 0) throw new ValidationError(violations);
  return value as T;
}

/** Reusable schema pieces. */
export const schemas = {
  uuid: { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' },
  /**
   * The Idempotency-Key header every service accepts: 1-255 printable ASCII characters, no
   * spaces (what a mesh retry can carry unchanged); a UUID is the usual choice.
   */
  idempotencyKey: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]{1,255}$' },
  /** Query `limit` with a default. */
  limit: (fallback: number, max: number) => ({ type: 'integer', minimum: 1, maximum: max, default: fallback }),
} as const;
