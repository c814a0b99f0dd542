import { Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { describe, expect, it } from 'vitest';
import { MeshedService } from '../../constructs/meshed-service.js';
import { Callers } from '../../mesh/callers.js';
import { checkCrossReferences } from '../../analysis/cross-references.js';
import { endpointsIn } from '../../manifests/hosts.js';
import type { KubeObject } from '../../manifests/kube-object.js';
import { Route } from '../../mesh/route.js';
import { synth, type Manifest } from '../support/manifests.js';

function meshedPair(): Manifest[] {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'shop' });
  const payment = new MeshedService(chart, 'payment', {
    image: 'meshkit/payment:dev',
    callers: Callers.none(),
    routes: [Route.read('/charges/{id}')],
    replicas: 2,
  });
  const order = new MeshedService(chart, 'order', { image: 'meshkit/order:dev', callers: Callers.none(), routes: [Route.read('/orders')] });
  order.addEnv('PAYMENT_URL', kplus.EnvValue.fromValue(payment.url));
  return synth(chart);
}

function mutate(objects: Manifest[], kind: string, name: string, change: (o: Manifest) => void): Manifest[] {
  const copy = structuredClone(objects);
  change(copy.find((o) => o.kind === kind && o.metadata.name === name)!);
  return copy;
}

const container = (o: Manifest) => o.spec.template.spec.containers[0];

describe('checkCrossReferences', () => {
  it('finds nothing wrong in a consistent pair of meshed services', () => {
    expect(checkCrossReferences(meshedPair())).toEqual([]);
  });

  it('reports a Service whose selector matches no pod', () => {
    const objects = mutate(meshedPair(), 'Service', 'payment', (s) => (s.spec.selector = { app: 'paymnet' }));
    expect(checkCrossReferences(objects)).toContain('Service shop/payment: selector {"app":"paymnet"} matches no pod template');
  });

  it('reports a targetPort that no container exposes', () => {
    const objects = mutate(meshedPair(), 'Service', 'payment', (s) => (s.spec.ports[0].targetPort = 8081));
    expect(checkCrossReferences(objects)).toContain('Service shop/payment: targetPort 8081 (port http) is not a container port of every selected pod');
  });

  it('reports a VirtualService route to a host that resolves to no Service', () => {
    const objects = mutate(meshedPair(), 'VirtualService', 'payment', (vs) => (vs.spec.http[0].route[0].destination.host = 'payments.shop.svc.cluster.local'));
    expect(checkCrossReferences(objects)).toContain(
      "VirtualService shop/payment: route 'get-charges-id' sends to payments.shop.svc.cluster.local, which resolves to no Service",
    );
  });

  it('reports a route to a subset no DestinationRule defines, and a subset that selects no pod', () => {
    let objects = mutate(meshedPair(), 'DestinationRule', 'payment', (dr) => (dr.spec.subsets[0] = { name: 'v2', labels: { version: 'v2' } }));
    const problems = checkCrossReferences(objects);
    expect(problems).toContain(
      "VirtualService shop/payment: route 'get-charges-id' sends to subset v1, which no DestinationRule for payment.shop.svc.cluster.local defines",
    );
    expect(problems).toContain('DestinationRule shop/payment: subset v2 ({"version":"v2"}) selects no pod of Service shop/payment');
    objects = mutate(meshedPair(), 'VirtualService', 'payment', (vs) => (vs.spec.http[0].route[0].destination.port.number = 9999));
    expect(checkCrossReferences(objects)).toContain(
      "VirtualService shop/payment: route 'get-charges-id' sends to port 9999, which Service shop/payment does not expose",
    );
  });

  it('reports env read from a Secret that is neither synthesized nor declared external, and a missing key', () => {
    const objects = mutate(meshedPair(), 'Deployment', 'order', (d) =>
      container(d).env.push({ name: 'DATABASE_PASSWORD', valueFrom: { secretKeyRef: { name: 'order-db-credentials', key: 'password' } } }),
    );
    expect(checkCrossReferences(objects)).toContain(
      'Deployment shop/order: env DATABASE_PASSWORD reads Secret shop/order-db-credentials, which is neither synthesized nor declared external',
    );
    expect(checkCrossReferences(objects, { externalSecrets: [{ name: 'order-db-credentials', namespace: 'shop', keys: ['password'] }] })).toEqual([]);
    expect(checkCrossReferences(objects, { externalSecrets: [{ name: 'order-db-credentials', namespace: 'shop', keys: ['pass'] }] })).toContain(
      'Deployment shop/order: env DATABASE_PASSWORD reads key password that Secret shop/order-db-credentials does not hold',
    );
  });

  it('reports a service URL in env whose host or port does not exist', () => {
    let objects = mutate(
      meshedPair(),
      'Deployment',
      'order',
      (d) => (container(d).env.find((e: { name: string }) => e.name === 'PAYMENT_URL').value = 'http://billing.shop.svc.cluster.local:8080'),
    );
    expect(checkCrossReferences(objects)).toContain(
      'Deployment shop/order: env PAYMENT_URL points at billing.shop.svc.cluster.local:8080, which resolves to no Service',
    );
    objects = mutate(
      meshedPair(),
      'Deployment',
      'order',
      (d) => (container(d).env.find((e: { name: string }) => e.name === 'PAYMENT_URL').value = 'http://payment.shop.svc.cluster.local:9090'),
    );
    expect(checkCrossReferences(objects)).toContain('Deployment shop/order: env PAYMENT_URL points at port 9090, which Service shop/payment does not expose');
  });

  it('resolves a Kafka bootstrap address to the Service Strimzi creates from the Kafka resource', () => {
    const kafka: KubeObject = {
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'Kafka',
      metadata: { name: 'meshkit', namespace: 'kafka' },
      spec: { kafka: { listeners: [{ name: 'plain', port: 9092 }] } },
    };
    const withBrokers = (value: string) => mutate(meshedPair(), 'Deployment', 'order', (d) => container(d).env.push({ name: 'KAFKA_BROKERS', value }));
    expect(checkCrossReferences([...withBrokers('meshkit-kafka-bootstrap.kafka.svc.cluster.local:9092'), kafka])).toEqual([]);
    expect(checkCrossReferences([...withBrokers('meshkit-kafka-bootstrap.kafka.svc.cluster.local:9093'), kafka])).toContain(
      'Deployment shop/order: env KAFKA_BROKERS points at port 9093, which Service kafka/meshkit-kafka-bootstrap does not expose',
    );
  });
});

describe('endpointsIn', () => {
  it('finds in-cluster host:port pairs in URLs, connection strings and broker lists', () => {
    expect(endpointsIn('postgres://$(U):$(P)@order-db.shop.svc.cluster.local:5432/order')).toEqual([{ host: 'order-db.shop.svc.cluster.local', port: 5432 }]);
    expect(endpointsIn('a.kafka.svc:9092,b.kafka.svc.cluster.local:9093')).toEqual([
      { host: 'a.kafka.svc', port: 9092 },
      { host: 'b.kafka.svc.cluster.local', port: 9093 },
    ]);
    expect(endpointsIn('http://localhost:8080')).toEqual([]);
  });
});
