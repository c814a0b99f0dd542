import type { ApiRoute } from './route.js';
import { order, payment, product, user, type ServiceName } from './services.js';

/** The calls one handler makes, in order; several sequences are its alternative paths. */
export interface CallSequence {
  readonly name: string;
  readonly calls: readonly ApiRoute[];
}

/** A route whose handler calls other services (the analyzer sums the budgets of each sequence). */
export interface Handler {
  readonly route: ApiRoute;
  readonly sequences: readonly CallSequence[];
}

const sagaHappyPath = [user.routes.get, product.routes.reserve, payment.routes.charge, product.routes.commit];

/** The order saga (apps/order/domain/saga.ts, calls made by apps/order/infrastructure/participants.ts). */
export const orderSaga: Handler = {
  route: order.routes.place,
  sequences: [
    { name: 'confirm', calls: sagaHappyPath },
    // The longest path: every step ran, the commit failed, both compensations follow.
    { name: 'commit fails, compensate', calls: [...sagaHappyPath, product.routes.release, payment.routes.voidCharge] },
  ],
};

/** Every handler that calls another service. */
export const handlers: readonly Handler[] = [orderSaga];

/** A synchronous call: `from` calls `to` on exactly these routes. */
export interface CallEdge {
  readonly from: ServiceName;
  readonly to: ServiceName;
  readonly routes: readonly ApiRoute[];
}

/**
 * The call graph, derived from the handlers: one edge per caller and callee with the routes in
 * the order they are first called. It decides service URLs, authorization and NetworkPolicies.
 */
export const callGraph: readonly CallEdge[] = (() => {
  const edges: { from: ServiceName; to: ServiceName; routes: ApiRoute[] }[] = [];
  for (const handler of handlers) {
    for (const route of handler.sequences.flatMap((s) => s.calls)) {
      const from = handler.route.service as ServiceName;
      const to = route.service as ServiceName;
      let edge = edges.find((e) => e.from === from && e.to === to);
      if (!edge) edges.push((edge = { from, to, routes: [] }));
      if (!edge.routes.includes(route)) edge.routes.push(route);
    }
  }
  return edges;
})();
