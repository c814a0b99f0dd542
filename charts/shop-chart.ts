import { Chart, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { MeshedService } from '../constructs/meshed-service.js';
import { PostgresDatabase } from '../constructs/postgres-database.js';
import { EdgeGateway } from '../mesh/edge-gateway.js';
import { NamespaceSecurity } from '../mesh/namespace-security.js';
import { callGraph, clientTimeoutMarginMs, edgeAuth, namespaces, services, topics, type ServiceName } from './platform.js';

export interface ShopChartProps extends ChartProps {
  /** Kafka bootstrap address (host:port) the services produce to and consume from. */
  readonly kafkaBootstrap: string;
  /** Port of the Kafka brokers, opened in the services' NetworkPolicies. */
  readonly kafkaPort: number;
  /**
   * Tag of the locally built service images (`meshkit/<service>:<tag>`).
   * @default 'dev'
   */
  readonly imageTag?: string;
}

/**
 * The five services, each with its own PostgreSQL, wired along the call graph and
 * topics, and locked down: STRICT mTLS, deny by default, and exactly the call-graph
 * edges and public routes opened in both the Istio and the Kubernetes network policies.
 */
export class ShopChart extends Chart {
  readonly services = new Map<ServiceName, MeshedService>();
  readonly databases = new Map<ServiceName, PostgresDatabase>();
  readonly edge: EdgeGateway;

  constructor(scope: Construct, id: string, props: ShopChartProps) {
    super(scope, id, { ...props, namespace: namespaces.shop });
    const tag = props.imageTag ?? 'dev';

    for (const spec of services) {
      const service = new MeshedService(this, spec.name, {
        image: `meshkit/${spec.name}:${tag}`,
        routes: spec.routes,
        replicas: spec.replicas,
      });
      this.services.set(spec.name, service);
      this.databases.set(spec.name, new PostgresDatabase(this, `${spec.name}-db`, { owner: service }));
    }

    new NamespaceSecurity(this, 'security', { namespace: namespaces.shop, istioNamespace: namespaces.istio });

    // Each caller learns the URL of exactly the services it calls, and may call exactly those routes.
    for (const edge of callGraph) {
      const caller = this.service(edge.from);
      const callee = this.service(edge.to);
      caller.addEnv(`${edge.to.toUpperCase()}_URL`, kplus.EnvValue.fromValue(callee.url));
      callee.allowFrom(caller, callee.routesNamed(edge.routes));
    }

    // A caller's HTTP client outwaits the longest mesh timeout of the routes it calls: the mesh decides.
    for (const spec of services) {
      const called = callGraph.filter((e) => e.from === spec.name).flatMap((e) => this.service(e.to).routesNamed(e.routes));
      if (called.length === 0) continue;
      const longest = Math.max(...called.map((r) => r.timeout.toMilliseconds()));
      this.service(spec.name).addEnv('HTTP_CLIENT_TIMEOUT_MS', kplus.EnvValue.fromValue(String(longest + clientTimeoutMarginMs)));
    }

    this.edge = new EdgeGateway(this, 'edge', {
      istioNamespace: namespaces.istio,
      jwt: {
        issuer: edgeAuth.issuer,
        audiences: edgeAuth.audiences,
        jwksService: this.service('user'),
        jwksPath: edgeAuth.jwksPath,
        userIdHeader: edgeAuth.userIdHeader,
      },
    });
    for (const spec of services) {
      const service = this.service(spec.name);
      const open = spec.publicRoutes.filter((r) => !spec.jwtRoutes.includes(r));
      if (open.length > 0) this.edge.expose(service, service.routesNamed(open), { requireJwt: false });
      if (spec.jwtRoutes.length > 0) this.edge.expose(service, service.routesNamed(spec.jwtRoutes), { requireJwt: true });
    }
    this.service('user').addEnv('JWT_ISSUER', kplus.EnvValue.fromValue(edgeAuth.issuer));
    this.service('user').addEnv('JWT_AUDIENCE', kplus.EnvValue.fromValue(edgeAuth.audiences[0]));

    for (const [name, service] of this.services) {
      const produces = topics.filter((t) => t.producers.includes(name)).map((t) => t.name);
      const consumes = topics.filter((t) => t.consumers.includes(name)).map((t) => t.name);
      if (produces.length === 0 && consumes.length === 0) continue;
      service.addEnv('KAFKA_BROKERS', kplus.EnvValue.fromValue(props.kafkaBootstrap));
      // Brokers are outside the mesh (no sidecar): only the NetworkPolicy wall applies.
      service.access.allowEgress({ to: { namespace: namespaces.kafka, podLabels: {}, displayName: 'kafka' }, ports: [{ port: props.kafkaPort }] });
      service.addEnv('KAFKA_CLIENT_ID', kplus.EnvValue.fromValue(name));
      if (produces.length > 0) service.addEnv('KAFKA_PRODUCE_TOPICS', kplus.EnvValue.fromValue(produces.join(',')));
      if (consumes.length > 0) {
        service.addEnv('KAFKA_CONSUME_TOPICS', kplus.EnvValue.fromValue(consumes.join(',')));
        service.addEnv('KAFKA_GROUP_ID', kplus.EnvValue.fromValue(name));
      }
    }
  }

  /** The service of that name; throws for a name the model does not declare. */
  service(name: ServiceName): MeshedService {
    const service = this.services.get(name);
    if (!service) throw new Error(`the platform declares no service '${name}'`);
    return service;
  }
}
