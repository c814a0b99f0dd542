import type { ApiRoute, RouteDeclaration } from './route.js';

/** A service of the contract: its name, what it owns, and its routes stamped with its name. */
export interface ServiceContract<N extends string = string, R extends Readonly<Record<string, ApiRoute>> = Readonly<Record<string, ApiRoute>>> {
  readonly name: N;
  /** One line on what the service owns. */
  readonly summary: string;
  /** Tables in the service's own PostgreSQL database. */
  readonly tables: readonly string[];
  /** The HTTP API, by name (`payment.routes.charge`), in the order the mesh matches them. */
  readonly routes: R;
}

type Stamped<N extends string, R extends Record<string, RouteDeclaration>> = { readonly [K in keyof R]: R[K] & { readonly service: N } };

/** Declares a service: each route learns which service serves it, so a reference alone names both. */
export function defineService<N extends string, R extends Record<string, RouteDeclaration>>(
  name: N,
  declaration: { readonly summary: string; readonly tables: readonly string[]; readonly routes: R },
): ServiceContract<N, Stamped<N, R>> {
  const routes = Object.fromEntries(Object.entries(declaration.routes).map(([key, route]) => [key, { ...route, service: name }])) as Stamped<N, R>;
  return { name, summary: declaration.summary, tables: declaration.tables, routes };
}

/** A service's routes as a list, in declaration order. */
export function routesOf(service: ServiceContract): readonly ApiRoute[] {
  return Object.values(service.routes);
}
