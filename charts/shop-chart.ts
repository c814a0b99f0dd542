import { Chart, type ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { MeshedService } from '../constructs/meshed-service.js';
import { PostgresDatabase } from '../constructs/postgres-database.js';
import { callGraph, namespaces, services, topics, type ServiceName } from './platform.js';

export interface ShopChartProps extends ChartProps {
  /** Kafka bootstrap address (host:port) the services produce to and consume from. */
  readonly kafkaBootstrap: string;
  /**
   * Tag of the locally built service images (`meshkit/<service>:<tag>`).
   * @default 'dev'
   */
  readonly imageTag?: string;
}

/** The five services, each with its own PostgreSQL, wired along the call graph and topics. */
export class ShopChart extends Chart {
  readonly services = new Map<ServiceName, MeshedService>();
  readonly databases = new Map<ServiceName, PostgresDatabase>();

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

    // Each caller learns the URL of exactly the services it calls.
    for (const edge of callGraph) {
      const caller = this.services.get(edge.from);
      const callee = this.services.get(edge.to);
      if (!caller || !callee) throw new Error(`call graph edge ${edge.from} -> ${edge.to} names an unknown service`);
      caller.addEnv(`${edge.to.toUpperCase()}_URL`, kplus.EnvValue.fromValue(callee.url));
    }

    for (const [name, service] of this.services) {
      const produces = topics.filter((t) => t.producers.includes(name)).map((t) => t.name);
      const consumes = topics.filter((t) => t.consumers.includes(name)).map((t) => t.name);
      if (produces.length === 0 && consumes.length === 0) continue;
      service.addEnv('KAFKA_BROKERS', kplus.EnvValue.fromValue(props.kafkaBootstrap));
      service.addEnv('KAFKA_CLIENT_ID', kplus.EnvValue.fromValue(name));
      if (produces.length > 0) service.addEnv('KAFKA_PRODUCE_TOPICS', kplus.EnvValue.fromValue(produces.join(',')));
      if (consumes.length > 0) {
        service.addEnv('KAFKA_CONSUME_TOPICS', kplus.EnvValue.fromValue(consumes.join(',')));
        service.addEnv('KAFKA_GROUP_ID', kplus.EnvValue.fromValue(name));
      }
    }
  }
}
