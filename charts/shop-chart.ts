import { Chart, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import type { IKafkaCluster } from '../constructs/kafka-cluster-ref.js';
import { MeshedService } from '../constructs/meshed-service.js';
import { PostgresDatabase } from '../constructs/postgres-database.js';
import { EdgeGateway } from '../mesh/edge-gateway.js';
import { NamespaceSecurity } from '../mesh/namespace-security.js';
import { podEnv, usesKafka } from './pod-env.js';
import { callGraph, edgeAuth, namespaces, services, type ServiceName } from './platform.js';

export interface ShopChartProps extends ChartProps {
  /**
   * The Kafka cluster the services produce to and consume from: its bootstrap address goes into
   * their environment, and the producers' and consumers' NetworkPolicies let them out to its brokers.
   */
  readonly kafka: IKafkaCluster;
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

    // Each caller may call exactly the routes of the call graph.
    for (const edge of callGraph) this.service(edge.to).allowFrom(this.service(edge.from), edge.routes);

    this.edge = new EdgeGateway(this, 'edge', {
      istioNamespace: namespaces.istio,
      jwt: {
        issuer: edgeAuth.issuer,
        audiences: edgeAuth.audiences,
        jwksService: this.service(edgeAuth.jwks.service),
        jwksPath: edgeAuth.jwksPath,
        userIdHeader: edgeAuth.userIdHeader,
      },
    });
    for (const spec of services) {
      const service = this.service(spec.name);
      const open = spec.publicRoutes.filter((r) => !spec.jwtRoutes.includes(r));
      if (open.length > 0) this.edge.expose(service, open, { requireJwt: false });
      if (spec.jwtRoutes.length > 0) this.edge.expose(service, spec.jwtRoutes, { requireJwt: true });
    }

    for (const [name, service] of this.services) {
      for (const [variable, value] of podEnv(name, { urlOf: (to) => this.service(to).url, kafkaBrokers: props.kafka.bootstrapServers })) {
        service.addEnv(variable, kplus.EnvValue.fromValue(value));
      }
      if (usesKafka(name)) props.kafka.allowFrom(service);
    }
  }

  /** The service of that name; throws for a name the model does not declare. */
  service(name: ServiceName): MeshedService {
    const service = this.services.get(name);
    if (!service) throw new Error(`the platform declares no service '${name}'`);
    return service;
  }
}
