import { Chart, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { Gateway, VirtualService } from '../imports/istio-networking.istio.io.js';
import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
  PeerAuthentication,
  PeerAuthenticationSpecMtlsMode,
  PeerAuthenticationSpecPortLevelMtlsMode,
  RequestAuthentication,
} from '../imports/istio-security.istio.io.js';
import type { IMeshedService } from '../constructs/meshed-service.js';
import { httpRoute, matchesOf } from './resilience-policy.js';
import type { Route } from './route.js';
import { istioPathTemplate, type AccessPeer } from './workload-access.js';

export interface EdgeJwtOptions {
  /** `iss` of the tokens the user service issues. */
  readonly issuer: string;
  /** Accepted `aud` values. */
  readonly audiences: readonly string[];
  /** The service that serves the JWKS document. */
  readonly jwksService: IMeshedService;
  /**
   * Path of the JWKS document on that service.
   * @default '/.well-known/jwks.json'
   */
  readonly jwksPath?: string;
  /**
   * Header the gateway fills with the verified `sub` claim; Envoy strips any client copy.
   * @default 'x-user-id'
   */
  readonly userIdHeader?: string;
}

export interface EdgeGatewayProps {
  /** End-user authentication at the edge. */
  readonly jwt: EdgeJwtOptions;
  /**
   * Namespace of the Istio ingress gateway pods (and of istiod).
   * @default 'istio-system'
   */
  readonly istioNamespace?: string;
  /**
   * Labels of the ingress gateway pods.
   * @default { istio: 'ingressgateway' }
   */
  readonly gatewayLabels?: Record<string, string>;
  /**
   * Service account of the ingress gateway pods (their Istio identity).
   * @default 'istio-ingressgateway-service-account'
   */
  readonly gatewayServiceAccount?: string;
  /**
   * Hosts the gateway answers for.
   * @default ['*']
   */
  readonly hosts?: readonly string[];
}

export interface ExposeOptions {
  /** Refuse requests without a valid JWT from the configured issuer. */
  readonly requireJwt: boolean;
}

/** One operation routed from the edge. */
export interface ExposedRoute {
  /** The service the edge routes it to. */
  readonly service: IMeshedService;
  /** The operation, one of the service's routes. */
  readonly route: Route;
  /** Whether the edge refuses it without a valid JWT. */
  readonly requireJwt: boolean;
}

/**
 * The public edge: an Istio Gateway on the ingress gateway, a VirtualService
 * routing exactly the exposed operations (anything else is a 404 at the edge),
 * RequestAuthentication against the user service's JWKS, and a DENY policy
 * for protected operations without a valid token. Exposing an operation also
 * grants the gateway's identity access to it on the service (`allowFrom`).
 * Routes and protected operations are read from the exposed operations at synthesis,
 * so `expose` may be called at any time before it.
 */
export class EdgeGateway extends Construct {
  /** Namespace of the routes (the chart's). */
  readonly namespace: string;
  /** Namespace of the ingress gateway and istiod. */
  readonly istioNamespace: string;
  /** `iss` the gateway accepts in JWTs. */
  readonly issuer: string;
  /** Header carrying the verified `sub` to the services. */
  readonly userIdHeader: string;
  /** The ingress gateway as a caller, for access grants. */
  readonly peer: AccessPeer;
  private readonly exposedRoutes: ExposedRoute[] = [];

  constructor(scope: Construct, id: string, props: EdgeGatewayProps) {
    super(scope, id);
    this.namespace = Chart.of(this).namespace ?? 'default';
    this.istioNamespace = props.istioNamespace ?? 'istio-system';
    const gatewayLabels = props.gatewayLabels ?? { istio: 'ingressgateway' };
    const serviceAccount = props.gatewayServiceAccount ?? 'istio-ingressgateway-service-account';
    this.issuer = props.jwt.issuer;
    this.userIdHeader = props.jwt.userIdHeader ?? 'x-user-id';
    this.peer = {
      principal: `cluster.local/ns/${this.istioNamespace}/sa/${serviceAccount}`,
      namespace: this.istioNamespace,
      podLabels: gatewayLabels,
      displayName: 'ingress gateway',
    };

    new Gateway(this, 'Gateway', {
      metadata: { name: id, namespace: this.istioNamespace },
      spec: {
        selector: gatewayLabels,
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: [...(props.hosts ?? ['*'])] }],
      },
    });
    new VirtualService(this, 'Routes', {
      metadata: { name: id, namespace: this.namespace },
      spec: {
        hosts: [...(props.hosts ?? ['*'])],
        gateways: [`${this.istioNamespace}/${id}`],
        http: Lazy.any({
          produce: () =>
            this.exposedRoutes.map(({ service, route }) =>
              httpRoute(
                `${service.name}-${route.name}`,
                route,
                { host: service.host, port: { number: service.port }, subset: service.version },
                matchesOf(route),
              ),
            ),
        }),
      },
    });

    const jwks = props.jwt.jwksService;
    const jwksPath = props.jwt.jwksPath ?? '/.well-known/jwks.json';
    new RequestAuthentication(this, 'Jwt', {
      metadata: { name: `${id}-jwt`, namespace: this.istioNamespace },
      spec: {
        selector: { matchLabels: gatewayLabels },
        jwtRules: [
          {
            issuer: this.issuer,
            audiences: [...props.jwt.audiences],
            jwksUri: `${jwks.url}${jwksPath}`,
            outputClaimToHeaders: [{ header: this.userIdHeader, claim: 'sub' }],
          },
        ],
      },
    });
    new AuthorizationPolicy(this, 'RequireJwt', {
      metadata: { name: `${id}-require-jwt`, namespace: this.istioNamespace },
      spec: {
        selector: { matchLabels: gatewayLabels },
        action: AuthorizationPolicySpecAction.DENY,
        // Request principals are `<iss>/<sub>`: any subject, but only from our issuer.
        rules: [
          {
            from: [{ source: { notRequestPrincipals: [`${this.issuer}/*`] } }],
            to: Lazy.any({
              produce: () =>
                this.exposedRoutes
                  .filter((e) => e.requireJwt)
                  .map(({ route }) => ({ operation: { methods: [...route.methods], paths: [istioPathTemplate(route.path)] } })),
            }),
          },
        ],
      },
    });

    // istiod fetches the JWKS itself, over plain HTTP from outside the mesh, so the
    // JWKS port accepts plaintext too and the document is open to any caller.
    const jwksRoute = jwks.routes.find((r) => r.path === jwksPath);
    if (!jwksRoute) throw new Error(`EdgeGateway '${id}': 'jwt.jwksService' (${jwks.name}) declares no route for '${jwksPath}': add Route.read('${jwksPath}')`);
    new PeerAuthentication(this, 'JwksPlaintext', {
      metadata: { name: `${jwks.name}-jwks`, namespace: jwks.namespace },
      spec: {
        selector: { matchLabels: { app: jwks.name } },
        mtls: { mode: PeerAuthenticationSpecMtlsMode.STRICT },
        portLevelMtls: { [String(jwks.port)]: { mode: PeerAuthenticationSpecPortLevelMtlsMode.PERMISSIVE } },
      },
    });
    jwks.access.allowAnyone(jwks.port, [jwksRoute], { namespace: this.istioNamespace, podLabels: { app: 'istiod' }, displayName: 'istiod' });
  }

  /** Every exposed operation, in order. */
  get exposed(): readonly ExposedRoute[] {
    return [...this.exposedRoutes];
  }

  /** Routes these operations of `service` from the edge, with the service's own timeouts and retries. */
  expose(service: IMeshedService, routes: readonly Route[], options: ExposeOptions): void {
    service.allowFrom(this.peer, routes);
    for (const route of routes) this.exposedRoutes.push({ service, route, requireJwt: options.requireJwt });
  }
}
