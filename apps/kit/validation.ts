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
  return (value) => (validate(value) ? [] : (validate.errors ?? []).map((e) => toViolation(where, e)));
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
  /** Query `limit` with a default. */
  limit: (fallback: number, max: number) => ({ type: 'integer', minimum: 1, maximum: max, default: fallback }),
} as const;
