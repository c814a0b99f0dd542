/**
 * The vocabulary of an HTTP API contract: a route is an object (service, method, path template,
 * class) that every side references, so a misspelt route is a compile error, not a lookup failure.
 * Timeouts and retries are not contract facts: the mesh model (charts/platform.ts) adds them.
 */

/** Methods a route declares; a GET route also answers HEAD (Express and the mesh's read routes do). */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * What a route may safely repeat, which decides how the mesh may retry it:
 * `read` (GET/HEAD), `idempotent-write` (a write carrying an idempotency key header), `write` (anything else).
 */
export type RouteClass = 'read' | 'idempotent-write' | 'write';

/** A route as declared inside a service, before the service stamps its name on it. */
export interface RouteDeclaration<P extends string = string> {
  readonly method: Method;
  /** Path template with `{param}` for one segment: `/charges/{id}/refund`. */
  readonly path: P;
  readonly class: RouteClass;
  /** Lower-case request header carrying the idempotency key; idempotent writes only. */
  readonly keyHeader?: string;
}

/** One operation of a service's HTTP API, referenced by object everywhere it is used. */
export interface ApiRoute<P extends string = string> extends RouteDeclaration<P> {
  readonly service: string;
}

// The factories keep method and path as literal types, so tools (scripts/generate-docs.ts) read them from the types.

export function read<P extends string>(path: P): { readonly method: 'GET'; readonly path: P; readonly class: 'read' } {
  return { method: 'GET', path, class: 'read' };
}

export function idempotentWrite<M extends Exclude<Method, 'GET'>, P extends string>(
  method: M,
  path: P,
  keyHeader: string,
): { readonly method: M; readonly path: P; readonly class: 'idempotent-write'; readonly keyHeader: string } {
  return { method, path, class: 'idempotent-write', keyHeader: keyHeader.toLowerCase() };
}

export function write<M extends Exclude<Method, 'GET'>, P extends string>(
  method: M,
  path: P,
): { readonly method: M; readonly path: P; readonly class: 'write' } {
  return { method, path, class: 'write' };
}

/** The methods a route answers: GET routes answer HEAD too. */
export function methodsOf(route: RouteDeclaration): readonly string[] {
  return route.method === 'GET' ? ['GET', 'HEAD'] : [route.method];
}

/** "GET|HEAD /users/{id}": how messages, docs and the analyzer's JSON graph name a route. */
export function describeRoute(route: RouteDeclaration): string {
  return `${methodsOf(route).join('|')} ${route.path}`;
}

/** The names of a template's `{param}` segments, in order. */
export function paramNames(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

/** A concrete path of the route: each `{param}` replaced by its URI-encoded value. */
export function pathOf(route: RouteDeclaration, params: Readonly<Record<string, string>> = {}): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`pathOf(${describeRoute(route)}): no value for '{${name}}'; pass { ${name}: '...' }`);
    return encodeURIComponent(value);
  });
}
