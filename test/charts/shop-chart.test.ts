import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { ShopChart } from '../../charts/shop-chart.js';
import { KafkaCluster } from '../../constructs/kafka-cluster.js';
import { envNames } from '../../contract/index.js';
import { find, synth } from '../support/manifests.js';

/** A shop wired to a Kafka cluster that is not the platform's (another name and namespace). */
function shopOn() {
  const app = Testing.app();
  const kafka = new KafkaCluster(new Chart(app, 'events', { namespace: 'events' }), 'other');
  const shop = new ShopChart(app, 'shop', { kafka });
  return { kafka, manifests: synth(shop) };
}

describe('ShopChart', () => {
  it('lets Kafka producers and consumers out to the pods of the cluster it is given, on its plain listener', () => {
    const { manifests } = shopOn();
    const toKafka = {
      to: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'events' } }, podSelector: { matchLabels: { 'strimzi.io/cluster': 'other' } } },
      ],
      ports: [{ port: 9092, protocol: 'TCP' }],
    };
    for (const client of ['order', 'payment', 'notification']) {
      expect(find(manifests, 'NetworkPolicy', client).spec.egress, client).toContainEqual(toKafka);
    }
    for (const other of ['user', 'product']) {
      const ports = find(manifests, 'NetworkPolicy', other).spec.egress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port));
      expect(ports, other).not.toContain(9092);
    }
  });

  it('gives Kafka producers and consumers the bootstrap address of the cluster it is given', () => {
    const { kafka, manifests } = shopOn();
    const env = find(manifests, 'Deployment', 'order').spec.template.spec.containers[0].env as { name: string; value?: string }[];
    expect(env).toContainEqual({ name: envNames.kafkaBrokers, value: kafka.bootstrapServers });
    expect(kafka.bootstrapServers).toBe('other-kafka-bootstrap.events.svc.cluster.local:9092');
  });
});
