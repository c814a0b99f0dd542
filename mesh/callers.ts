/**
 * Who may call a MeshedService's HTTP API: an explicit choice, so a service is
 * never unreachable by accident. Callers granted one by one with
 * `MeshedService.allowFrom` come on top of any choice.
 *
 * @example
 * new MeshedService(chart, 'inventory', { image, routes, callers: Callers.namespaces('storefront') });
 * new MeshedService(chart, 'mailer', { image, routes, callers: Callers.none() }); // a Kafka consumer nobody calls
 */
export class Callers {
  /**
   * Only the callers granted with `allowFrom` (the default). Synthesis fails when a service
   * ends up with none, rather than deploying an AuthorizationPolicy that refuses every request.
   */
  static granted(): Callers {
    return new Callers('granted', []);
  }

  /**
   * Nobody: the service takes no requests (a Kafka consumer, a batch worker). Its
   * AuthorizationPolicy and NetworkPolicy deny every call on purpose; `allowFrom` still adds callers.
   */
  static none(): Callers {
    return new Callers('none', []);
  }

  /**
   * Every mesh workload (an mTLS identity) in these namespaces, on every route:
   * Istio `source.namespaces` in the AuthorizationPolicy, a namespace selector in the NetworkPolicy.
   */
  static namespaces(...namespaces: string[]): Callers {
    if (namespaces.length === 0)
      throw new Error(`Callers.namespaces() needs at least one namespace: name them, or use Callers.none() for a service nobody calls`);
    return new Callers('namespaces', namespaces);
  }

  private constructor(
    /** Which choice this is. */
    readonly kind: 'granted' | 'none' | 'namespaces',
    /** The namespaces of `Callers.namespaces`, empty otherwise. */
    readonly namespaces: readonly string[],
  ) {}
}
