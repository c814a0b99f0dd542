import { Chart, Size, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { EventTopic } from '../../constructs/event-topic.js';
import { KafkaCluster, type KafkaClusterProps } from '../../constructs/kafka-cluster.js';
import { MeshedService } from '../../constructs/meshed-service.js';
import { Callers } from '../../mesh/callers.js';
import { Route } from '../../mesh/route.js';
import { versions } from '../../constructs/versions.js';
import { find, synth } from '../support/manifests.js';

function cluster(props: KafkaClusterProps = {}) {
  const chart = new Chart(Testing.app(), 'kafka', { namespace: 'kafka' });
  const kafka = new KafkaCluster(chart, 'events', props);
  kafka.addTopic('orders.events', { partitions: 6, retentionHours: 24 });
  return { kafka, manifests: synth(chart) };
}

describe('KafkaCluster', () => {
  it('declares a KRaft cluster on the v1 Strimzi API with the pinned Kafka version', () => {
    const kafka = find(cluster().manifests, 'Kafka', 'events');
    expect(kafka.apiVersion).toBe('kafka.strimzi.io/v1');
    expect(kafka.spec.kafka).toMatchObject({ version: versions.kafka, listeners: [{ name: 'plain', port: 9092, type: 'internal', tls: false }] });
    expect(kafka.spec).not.toHaveProperty('zookeeper');
  });

  it('runs one laptop-sized node with both KRaft roles by default, replication 1', () => {
    const { manifests } = cluster();
    const pool = find(manifests, 'KafkaNodePool', 'dual-role');
    expect(pool.metadata.labels).toMatchObject({ 'strimzi.io/cluster': 'events' });
    expect(pool.spec).toMatchObject({
      replicas: 1,
      roles: ['controller', 'broker'],
      storage: { type: 'jbod', volumes: [{ id: 0, type: 'persistent-claim', size: '1024Mi', kraftMetadata: 'shared', deleteClaim: false }] },
      resources: { requests: { cpu: '200m', memory: '768Mi' } },
      jvmOptions: { '-Xms': '384m', '-Xmx': '384m' },
    });
    expect(find(manifests, 'Kafka', 'events').spec.kafka.config).toMatchObject({
      'default.replication.factor': 1,
      'min.insync.replicas': 1,
      'offsets.topic.replication.factor': 1,
    });
  });

  it('matches replication to three nodes when asked', () => {
    const { manifests } = cluster({ nodes: 3 });
    expect(find(manifests, 'KafkaNodePool', 'dual-role').spec.replicas).toBe(3);
    expect(find(manifests, 'Kafka', 'events').spec.kafka.config).toMatchObject({
      'default.replication.factor': 3,
      'min.insync.replicas': 2,
      'transaction.state.log.replication.factor': 3,
      'transaction.state.log.min.isr': 2,
    });
    expect(find(manifests, 'KafkaTopic', 'orders-events').spec).toMatchObject({ replicas: 3, config: { 'min.insync.replicas': 2 } });
  });

  it('declares topics with their real name, partitions and retention', () => {
    const topic = find(cluster().manifests, 'KafkaTopic', 'orders-events');
    expect(topic.metadata.labels).toMatchObject({ 'strimzi.io/cluster': 'events' });
    expect(topic.spec).toEqual({ topicName: 'orders.events', partitions: 6, replicas: 1, config: { 'retention.ms': 86_400_000, 'min.insync.replicas': 1 } });
  });

  it('places a topic declared outside the cluster in the cluster it references, with its replication and the default partitions and retention', () => {
    const app = Testing.app();
    const kafka = new KafkaCluster(new Chart(app, 'kafka', { namespace: 'kafka' }), 'events', { nodes: 3 });
    const shop = new Chart(app, 'shop', { namespace: 'shop' });
    const topic = new EventTopic(shop, 'payments', { cluster: kafka, topicName: 'payments.events' });
    expect(topic.cluster).toBe(kafka);
    const manifest = find(synth(shop), 'KafkaTopic', 'payments-events');
    expect(manifest.metadata).toMatchObject({ namespace: 'kafka', labels: { 'strimzi.io/cluster': 'events' } });
    expect(manifest.spec).toEqual({
      topicName: 'payments.events',
      partitions: 3,
      replicas: 3,
      config: { 'retention.ms': 604_800_000, 'min.insync.replicas': 2 },
    });
  });

  it('exposes the bootstrap address of the Service Strimzi creates', () => {
    expect(cluster().kafka.bootstrapServers).toBe('events-kafka-bootstrap.kafka.svc.cluster.local:9092');
  });

  it("lets a client it is given out to the cluster's pods on the plain listener, in the client's NetworkPolicy", () => {
    const app = Testing.app();
    const kafka = new KafkaCluster(new Chart(app, 'kafka', { namespace: 'kafka' }), 'events');
    const chart = new Chart(app, 'mail', { namespace: 'mail' });
    const mailer = new MeshedService(chart, 'mailer', { image: 'example/mailer:1.0', routes: [Route.read('/status')], callers: Callers.none() });
    kafka.allowFrom(mailer);
    expect(find(synth(chart), 'NetworkPolicy', 'mailer').spec.egress).toContainEqual({
      to: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kafka' } }, podSelector: { matchLabels: { 'strimzi.io/cluster': 'events' } } },
      ],
      ports: [{ port: 9092, protocol: 'TCP' }],
    });
    expect(mailer.access.egress.map((g) => g.to)).toContainEqual(kafka.peer);
    expect(kafka.peer.principal).toBeUndefined();
  });

  it('rejects a node count without a sound replication setting and a heap too small for a broker', () => {
    expect(() => cluster({ nodes: 2 as 1, resources: { cpuMillis: 100, memoryMiB: 256 } })).toThrow(
      /'nodes' \(2\) must be 1 \(laptop\) or 3 \(tolerates one node loss\)[\s\S]*'resources.memoryMiB' \(256\) is too small for a broker JVM: use at least 512/,
    );
  });

  it('rejects a topic name Kafka would refuse', () => {
    const chart = new Chart(Testing.app(), 'kafka', { namespace: 'kafka' });
    const kafka = new KafkaCluster(chart, 'events');
    expect(() => kafka.addTopic('orders events')).toThrow("'topicName' ('orders events') must be 1-249 characters of letters, digits, '.', '_' and '-'");
    expect(() => kafka.addTopic('orders', { partitions: 0 })).toThrow("'partitions' (0) must be a whole number of at least 1");
  });

  it('rejects storage too small for a broker', () => {
    expect(() => cluster({ storage: Size.mebibytes(100) })).toThrow("'storage' (100Mi) is too small for a broker: use at least 256Mi");
  });
});
