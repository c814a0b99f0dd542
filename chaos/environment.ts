import type { ChaosSettings } from '../apps/kit/chaos.js';
import type { ServiceName } from '../charts/platform.js';
import type { MetricsCollector } from './metrics/collector.js';

export type Mode = 'local' | 'cluster' | 'mesh';

/** Something a scenario broke that comes back by itself (a killed pod) or is brought back (a stopped broker). */
export interface Outage {
  /** "killed pod kafka/meshkit-dual-role-0". */
  readonly description: string;
  /** Waits until it serves again (or brings it back); resolves with what happened. Bounded by `timeoutMs`. */
  restore(timeoutMs: number): Promise<string>;
}

/** Fault resources applied to the cluster; `remove` deletes exactly them. */
export interface AppliedResources {
  readonly description: string;
  remove(): Promise<string>;
}

/**
 * The shop as synthesized into dist/ and deployed, on the kind cluster or the local mesh: what the
 * chaos environments of both take from the platform model (chaos/main.ts's shopDeployment).
 */
export interface ShopDeployment {
  readonly namespaces: { readonly shop: string; readonly kafka: string; readonly istio: string };
  /** Strimzi Kafka cluster name (its broker pods carry `strimzi.io/cluster=<name>`, `strimzi.io/broker-role=true`). */
  readonly kafkaCluster: string;
  /** Public port of each service (the mesh host's port in Envoy's cluster names). */
  readonly servicePort: (service: ServiceName) => number;
  /** Admin port of the services (chaos switch and /metrics, on the pod's loopback). */
  readonly adminPort: number;
  /** Where `chaos synth` wrote the fault resources (dist/chaos). */
  readonly resourcesDir: string;
  /** The order service's recovery sweep as deployed (the app defaults unless the chart sets them). */
  readonly orderSweep: { readonly intervalMs: number; readonly staleMs: number };
}

/**
 * Where a scenario runs: the shop on kind behind the Istio gateway, on the local mesh
 * (local/mesh: istiod and Envoy sidecars on this machine), or as local processes behind the
 * local edge. Capabilities a place lacks are undefined, and
 * scenarios that need them say they cannot run there.
 */
export interface ChaosEnvironment {
  readonly mode: Mode;
  /** The edge the load goes through (http://localhost:8080 on kind). */
  readonly baseUrl: string;
  /** One line for the report: "kind cluster meshkit through http://localhost:8080". */
  readonly description: string;
  /** The order service's recovery sweep (how long until a stale PENDING order is finished). */
  readonly orderSweep: { readonly intervalMs: number; readonly staleMs: number };
  /** Instances of a service (pod names, or a process label), in a stable order. */
  instances(service: ServiceName): Promise<string[]>;
  /** Sets the run-time chaos switch of one instance (POST /admin/chaos on its admin port). */
  setChaos(service: ServiceName, instance: string, settings: ChaosSettings): Promise<void>;
  /** Resets the switch (DELETE /admin/chaos). */
  clearChaos(service: ServiceName, instance: string): Promise<void>;
  /** The RED metrics and worker counters of every instance of a service (/metrics). */
  serviceMetrics(service: ServiceName): MetricsCollector;
  /** Envoy's stats of calls from the gateway or a service's sidecars to `to`; only with a mesh. */
  readonly envoy?: (from: 'gateway' | ServiceName, to: ServiceName) => MetricsCollector;
  /** Istio's request metrics for calls to `to` from the gateway, from Prometheus; only with a mesh. */
  readonly prometheus?: (to: ServiceName) => MetricsCollector;
  /** Applies a synthesized chaos resource file (dist/chaos/<name>.yaml); only where istiod watches an apiserver. */
  readonly applyResources?: (name: string) => Promise<AppliedResources>;
  /** Kills the Kafka broker; only where the environment controls one. */
  readonly killKafkaBroker?: () => Promise<Outage>;
  /** Kills the database of one service; only where databases run apart from the services. */
  readonly killDatabase?: (service: ServiceName) => Promise<Outage>;
  /** Tops the product stock up to `units` per product (the shop has no restock API); only where possible. */
  readonly restock?: (units: number) => Promise<string>;
  close(): Promise<void>;
}
