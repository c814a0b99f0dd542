import type { IConstruct } from 'constructs';

/**
 * A Kafka cluster as its topics and clients use it: where it lives and how topics on it are
 * replicated. KafkaCluster implements it; EventTopic depends on this interface rather than on the
 * class, so the two files do not import each other.
 */
export interface IKafkaCluster extends IConstruct {
  /** Name of the Strimzi Kafka resource (the `strimzi.io/cluster` label of its topics). */
  readonly name: string;
  /** Namespace of the cluster and its topics. */
  readonly namespace: string;
  /** Replication factor and min.insync.replicas that match the node count. */
  readonly replication: { readonly factor: number; readonly minInSync: number };
  /** Port of the plain listener on every broker. */
  readonly plainPort: number;
  /** Bootstrap address (host:port) of the plain listener, for clients in any namespace. */
  readonly bootstrapServers: string;
}
