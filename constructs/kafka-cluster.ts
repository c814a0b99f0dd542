import { Chart, Size } from 'cdk8s';
import { Construct } from 'constructs';
import {
  Kafka,
  KafkaNodePool,
  KafkaNodePoolSpecResourcesLimits,
  KafkaNodePoolSpecResourcesRequests,
  KafkaNodePoolSpecRoles,
  KafkaNodePoolSpecStorageType,
  KafkaNodePoolSpecStorageVolumesKraftMetadata,
  KafkaNodePoolSpecStorageVolumesType,
  KafkaSpecEntityOperatorTopicOperatorResourcesLimits,
  KafkaSpecEntityOperatorTopicOperatorResourcesRequests,
  KafkaSpecEntityOperatorUserOperatorResourcesLimits,
  KafkaSpecEntityOperatorUserOperatorResourcesRequests,
  KafkaSpecKafkaListenersType,
} from '../imports/strimzi-kafka.strimzi.io.js';
import type { AccessPeer } from '../mesh/workload-access.js';
import type { IMeshedService, ResourceRequests } from './meshed-service.js';
import { EventTopic, type TopicOptions } from './event-topic.js';
import type { IKafkaCluster } from './kafka-cluster-ref.js';
import { PropsValidator } from './validation.js';
import { versions } from './versions.js';

export interface KafkaClusterProps {
  /**
   * Broker+controller nodes (one KRaft node pool with both roles). 1 is laptop-sized;
   * 3 tolerates the loss of one node, with replication settings to match.
   * @default 1
   */
  readonly nodes?: 1 | 3;
  /**
   * Kafka version the Strimzi operator runs (must be one the pinned Strimzi release supports).
   * @default versions.kafka
   */
  readonly kafkaVersion?: string;
  /**
   * Data volume per node (persistent-claim, also holding the KRaft metadata log).
   * @default Size.gibibytes(1)
   */
  readonly storage?: Size;
  /**
   * Requests per node; the JVM heap is set to half the memory request.
   * @default { cpuMillis: 200, memoryMiB: 768 }
   */
  readonly resources?: ResourceRequests;
  /**
   * Requests of each entity operator container (topic and user operator).
   * @default { cpuMillis: 25, memoryMiB: 160 }
   */
  readonly operatorResources?: ResourceRequests;
}

const PLAIN_PORT = 9092;

/**
 * A Strimzi Kafka cluster in KRaft mode (kafka.strimzi.io/v1): the Kafka resource
 * with a plain internal listener and the entity operators, one KafkaNodePool with
 * both roles, and KafkaTopics added with `addTopic`. Put it in a namespace without
 * sidecar injection: the brokers stay out of the mesh. `allowFrom(client)` lets a client's
 * pods out to the brokers.
 *
 * @example
 * const kafka = new KafkaCluster(kafkaChart, 'events');
 * kafka.addTopic('orders.placed', { partitions: 3 });
 * mailer.addEnv('KAFKA_BROKERS', kplus.EnvValue.fromValue(kafka.bootstrapServers));
 * kafka.allowFrom(mailer); // egress from the mailer's pods to the brokers on 9092
 */
export class KafkaCluster extends Construct implements IKafkaCluster {
  /** Name of the Kafka resource (the construct id). */
  readonly name: string;
  /** Namespace of the chart (`'default'` when the chart sets none). */
  readonly namespace: string;
  /** Number of KRaft nodes, each both controller and broker. */
  readonly nodes: number;
  /** Replication factor and min.insync.replicas that match the node count. */
  readonly replication: { readonly factor: number; readonly minInSync: number };
  /** Requests (and memory limit) of each Kafka node. */
  readonly resources: ResourceRequests;
  /** Requests of each entity operator (topic and user). */
  readonly operatorResources: ResourceRequests;
  /** The Strimzi Kafka resource. */
  readonly kafka: Kafka;
  /** The KafkaNodePool with both roles. */
  readonly nodePool: KafkaNodePool;
  /** Topics added with `addTopic`. */
  readonly topics: EventTopic[] = [];

  constructor(scope: Construct, id: string, props: KafkaClusterProps = {}) {
    super(scope, id);
    this.name = id;
    this.namespace = Chart.of(this).namespace ?? 'default';
    this.nodes = props.nodes ?? 1;
    this.replication = this.nodes >= 3 ? { factor: 3, minInSync: 2 } : { factor: 1, minInSync: 1 };
    this.resources = props.resources ?? { cpuMillis: 200, memoryMiB: 768 };
    this.operatorResources = props.operatorResources ?? { cpuMillis: 25, memoryMiB: 160 };
    const storage = props.storage ?? Size.gibibytes(1);
    const kafkaVersion = props.kafkaVersion ?? versions.kafka;

    const v = new PropsValidator(`KafkaCluster '${this.name}'`);
    v.check(this.nodes === 1 || this.nodes === 3, () => `'nodes' (${this.nodes}) must be 1 (laptop) or 3 (tolerates one node loss)`);
    v.check(/^\d+\.\d+\.\d+$/.test(kafkaVersion), () => `'kafkaVersion' ('${kafkaVersion}') must be a Kafka release like '${versions.kafka}'`);
    v.check(this.resources.memoryMiB >= 512, () => `'resources.memoryMiB' (${this.resources.memoryMiB}) is too small for a broker JVM: use at least 512`);
    v.check(storage.toMebibytes() >= 256, () => `'storage' (${storage.toMebibytes()}Mi) is too small for a broker: use at least 256Mi`);
    v.throwIfInvalid();

    const labels = { 'app.kubernetes.io/part-of': 'meshkit', 'app.kubernetes.io/managed-by': 'cdk8s' };
    const heap = `${Math.floor(this.resources.memoryMiB / 2)}m`;

    this.kafka = new Kafka(this, 'Resource', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        kafka: {
          version: kafkaVersion,
          listeners: [{ name: 'plain', port: PLAIN_PORT, type: KafkaSpecKafkaListenersType.INTERNAL, tls: false }],
          config: {
            'default.replication.factor': this.replication.factor,
            'min.insync.replicas': this.replication.minInSync,
            'offsets.topic.replication.factor': this.replication.factor,
            'transaction.state.log.replication.factor': this.replication.factor,
            'transaction.state.log.min.isr': this.replication.minInSync,
          },
        },
        entityOperator: {
          topicOperator: {
            resources: requirements(
              this.operatorResources,
              KafkaSpecEntityOperatorTopicOperatorResourcesRequests,
              KafkaSpecEntityOperatorTopicOperatorResourcesLimits,
            ),
          },
          userOperator: {
            resources: requirements(
              this.operatorResources,
              KafkaSpecEntityOperatorUserOperatorResourcesRequests,
              KafkaSpecEntityOperatorUserOperatorResourcesLimits,
            ),
          },
        },
      },
    });

    this.nodePool = new KafkaNodePool(this, 'NodePool', {
      metadata: { name: 'dual-role', namespace: this.namespace, labels: { ...labels, 'strimzi.io/cluster': this.name } },
      spec: {
        replicas: this.nodes,
        roles: [KafkaNodePoolSpecRoles.CONTROLLER, KafkaNodePoolSpecRoles.BROKER],
        storage: {
          type: KafkaNodePoolSpecStorageType.JBOD,
          volumes: [
            {
              id: 0,
              type: KafkaNodePoolSpecStorageVolumesType.PERSISTENT_HYPHEN_CLAIM,
              size: `${storage.toMebibytes()}Mi`,
              deleteClaim: false,
              kraftMetadata: KafkaNodePoolSpecStorageVolumesKraftMetadata.SHARED,
            },
          ],
        },
        resources: requirements(this.resources, KafkaNodePoolSpecResourcesRequests, KafkaNodePoolSpecResourcesLimits),
        jvmOptions: { xms: heap, xmx: heap },
      },
    });
  }

  /** Port of the plain listener on every broker. */
  readonly plainPort = PLAIN_PORT;

  /** Bootstrap address (host:port) of the plain listener, for clients in any namespace. */
  get bootstrapServers(): string {
    return `${this.name}-kafka-bootstrap.${this.namespace}.svc.cluster.local:${PLAIN_PORT}`;
  }

  /** The cluster's pods as a network peer: outside the mesh (no Istio principal), every pod Strimzi labels `strimzi.io/cluster=<name>`. */
  get peer(): AccessPeer {
    return { namespace: this.namespace, podLabels: { 'strimzi.io/cluster': this.name }, displayName: `kafka ${this.name}` };
  }

  /**
   * Lets `client`'s pods open connections to the brokers' plain listener: an egress rule in the
   * client's NetworkPolicy. The brokers have no sidecar, so that wall is the only one; Strimzi's
   * own NetworkPolicy leaves the listener open to every pod.
   */
  allowFrom(client: IMeshedService): void {
    client.access.allowEgress({ to: this.peer, ports: [{ port: this.plainPort }] });
  }

  /** Declares a topic managed by Strimzi's topic operator, replicated to match the cluster. */
  addTopic(topicName: string, options: TopicOptions = {}): EventTopic {
    const topic = new EventTopic(this, topicName, { cluster: this, topicName, ...options });
    this.topics.push(topic);
    return topic;
  }
}

/** Each generated Strimzi type has its own quantity classes; they all build from strings. */
interface QuantityClass<Q> {
  fromString(value: string): Q;
}

function requirements<R, L>(r: ResourceRequests, request: QuantityClass<R>, limit: QuantityClass<L>) {
  return {
    requests: { cpu: request.fromString(`${r.cpuMillis}m`), memory: request.fromString(`${r.memoryMiB}Mi`) },
    limits: { memory: limit.fromString(`${r.memoryLimitMiB ?? Math.round(r.memoryMiB * 1.5)}Mi`) },
  };
}
