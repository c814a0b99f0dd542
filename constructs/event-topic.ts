import { Construct } from 'constructs';
import { KafkaTopic } from '../imports/strimzi-kafka.strimzi.io.js';
import type { IKafkaCluster } from './kafka-cluster-ref.js';
import { PropsValidator } from './validation.js';

export interface TopicOptions {
  /**
   * Partitions of the topic.
   * @default 3
   */
  readonly partitions?: number;
  /**
   * How long records are kept, in hours (`retention.ms`).
   * @default 7 days
   */
  readonly retentionHours?: number;
}

export interface EventTopicProps extends TopicOptions {
  /** Cluster whose topic operator manages the topic. */
  readonly cluster: IKafkaCluster;
  /** Kafka topic name (may contain dots, e.g. `orders.events`). */
  readonly topicName: string;
}

/**
 * One event stream as a Strimzi KafkaTopic (kafka.strimzi.io/v1), replicated to
 * match its cluster. The resource name is the topic name with dots replaced, and
 * `spec.topicName` keeps the real name.
 */
export class EventTopic extends Construct {
  /** The Kafka topic name (`spec.topicName`). */
  readonly topicName: string;
  /** Name of the KafkaTopic resource: the topic name with dots replaced. */
  readonly resourceName: string;
  /** The cluster whose topic operator manages the topic. */
  readonly cluster: IKafkaCluster;
  /** The Strimzi KafkaTopic resource. */
  readonly resource: KafkaTopic;

  constructor(scope: Construct, id: string, props: EventTopicProps) {
    super(scope, id);
    this.topicName = props.topicName;
    this.cluster = props.cluster;
    this.resourceName = props.topicName.replace(/[._]/g, '-');
    const partitions = props.partitions ?? 3;
    const retentionHours = props.retentionHours ?? 7 * 24;
    const v = new PropsValidator(`EventTopic '${props.topicName}'`);
    v.check(
      /^[a-zA-Z0-9._-]{1,249}$/.test(props.topicName),
      () => `'topicName' ('${props.topicName}') must be 1-249 characters of letters, digits, '.', '_' and '-'`,
    );
    v.check(Number.isInteger(partitions) && partitions >= 1, () => `'partitions' (${partitions}) must be a whole number of at least 1`);
    v.check(retentionHours > 0, () => `'retentionHours' (${retentionHours}) must be positive`);
    v.throwIfInvalid();

    this.resource = new KafkaTopic(this, 'Resource', {
      metadata: {
        name: this.resourceName,
        namespace: props.cluster.namespace,
        labels: { 'strimzi.io/cluster': props.cluster.name, 'app.kubernetes.io/part-of': 'meshkit' },
      },
      spec: {
        topicName: props.topicName,
        partitions,
        replicas: props.cluster.replication.factor,
        config: {
          'retention.ms': retentionHours * 3600 * 1000,
          'min.insync.replicas': props.cluster.replication.minInSync,
        },
      },
    });
  }
}
