/**
 * The vocabulary of a declared call graph that both a platform model (charts/) and the
 * offline resilience analyzer (analysis/) speak: which operation calls which, in order.
 * Types only, so the library floor owns it and neither side imports the other.
 */

/** An operation of a service: "POST /charges" of payment. `S` narrows service names for a typed model. */
export interface RouteRef<S extends string = string> {
  readonly service: S;
  readonly route: string;
}

/** The calls one handler makes, in order. Several sequences describe alternative paths (success, compensation). */
export interface CallSequence<S extends string = string> {
  readonly name: string;
  readonly calls: readonly RouteRef<S>[];
}

/** A handler that calls other services: which of its paths make which calls in turn. */
export interface Handler<S extends string = string> {
  readonly service: S;
  readonly route: string;
  readonly sequences: readonly CallSequence<S>[];
}
