import { Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { KafkaCluster } from '../constructs/kafka-cluster.js';
import { kafkaClusterName, namespaces, topics } from './platform.js';

/** The Strimzi Kafka cluster and one topic per event stream of the platform model. */
export class KafkaChart extends Chart {
  readonly cluster: KafkaCluster;

  constructor(scope: Construct, id: string) {
    super(scope, id, { namespace: namespaces.kafka });
    this.cluster = new KafkaCluster(this, kafkaClusterName);
    for (const topic of topics) this.cluster.addTopic(topic.name, { partitions: topic.partitions });
  }
}
