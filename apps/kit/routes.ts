import type { IncomingHttpHeaders } from 'node:http';
import type { RouteDeclaration } from '../../contract/route.js';
import { pathTemplateRegex } from '../../mesh/istio-match.js';
import type { SchemaObject } from './validation.js';

export interface RouteInput<B, Q, P> {
  readonly body: B;
  readonly query: Q;
  readonly params: P;
  readonly headers: IncomingHttpHeaders;
}

/** What a handler answers; the kit writes `body` as JSON, `text` as is, or 204 when neither is given. */
export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  /** A non-JSON body (e.g. Prometheus exposition); set its content-type in `headers`. */
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** How a service answers one route: schemas checked at the edge of the service, then the handler. */
export interface RouteHandler<B = unknown, Q = unknown, P = unknown> {
  /** JSON schema of the body. Writes always parse JSON (16 kB limit); only this decides what is valid. */
  readonly body?: SchemaObject;
  /**
   * Whether an absent body counts as `{}` (writes whose body is optional).
   * @default false - a route with a body schema requires a body
   */
  readonly bodyOptional?: boolean;
  readonly query?: SchemaObject;
  readonly params?: SchemaObject;
  handle(input: RouteInput<B, Q, P>): Promise<Reply>;
}

/**
 * One operation of a service's HTTP API: the contract's route (method, path template, class:
 * contract/services.ts) and its handler. Domain code receives typed, valid input.
 */
export interface RouteSpec<B = unknown, Q = unknown, P = unknown> extends RouteHandler<B, Q, P> {
  readonly route: RouteDeclaration;
}

// Routes of different input types live in one list; each was checked against its own types by defineRoute.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any>;

/**
 * Serves a contract route: `defineRoute(product.routes.get, { params, handle })`. Method and path
 * come from the contract object, so the app cannot drift from the mesh; the type parameters let
 * TypeScript check the handler against the input types it declares.
 */
export function defineRoute<B = undefined, Q = Record<string, unknown>, P = Record<string, string>>(
  route: RouteDeclaration,
  handler: RouteHandler<B, Q, P>,
): RouteSpec<B, Q, P> {
  return { ...handler, route };
}

/** A compiled path template: the mesh's regex (mesh/istio-match.ts) and the params of a matching path. */
export interface PathMatcher {
  readonly regex: RegExp;
  /** The `{param}` values of a path the regex matched, percent-decoded; throws URIError on a malformed escape. */
  params(path: string): Record<string, string>;
}

/** The one path matcher: the regex Istio matches with, so the app serves exactly the paths its sidecar routes. */
export function pathMatcher(template: string): PathMatcher {
  const regex = new RegExp(pathTemplateRegex(template));
  // Each `{param}` is exactly one segment, so a matched path's segments line up with the template's.
  const slots = template.split('/').flatMap((segment, index) => {
    const name = /^\{(\w+)\}$/.exec(segment)?.[1];
    return name === undefined ? [] : [{ name, index }];
  });
  return {
    regex,
    params(path) {
      const segments = path.split('/');
      const params: Record<string, string> = {};
      for (const { name, index } of slots) {
        const segment = segments[index]!;
        // Most segments carry no escape: skip the decoder's work for them (on every request).
        params[name] = segment.includes('%') ? decodeURIComponent(segment) : segment;
      }
      return params;
    },
  };
}
