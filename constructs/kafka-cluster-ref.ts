import type { IConstruct } from 'constructs';
import type { AccessPeer } from '../mesh/workload-access.js';
import type { IMeshedService } from './meshed-service.js';

/**
 * A Kafka cluster as its topics and clients use it: where it lives, how topics on it are
 * replicated and how a client is let through to its brokers. KafkaCluster implements it;
 * EventTopic depends on this interface rather than on the class, so the two files do not
 * import each other.
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
  /** The cluster's pods as a network peer: outside the mesh (no Istio principal), selected by `strimzi.io/cluster`. */
  readonly peer: AccessPeer;
  /** Lets `client`'s pods out to the brokers' plain listener (an egress rule in the client's NetworkPolicy). */
  allowFrom(client: IMeshedService): void;
}
