import { ApiObject, Testing } from 'cdk8s';
import { Deployment } from 'cdk8s-plus-28';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';

const client = new KubeClient(inject('kube'));
afterAll(() => client.close());

// Each test uses its own namespace so the shared server's state never couples them.
function orderService(namespace: string): KubeObject[] {
  const labels = { app: 'order' };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'order', namespace, labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [{ name: 'order', image: 'meshkit/order:0.1.0', ports: [{ name: 'http', containerPort: 8080 }] }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'order', namespace, labels },
      spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    },
    virtualService(namespace, { attempts: 3, perTryTimeout: '1s', retryOn: 'connect-failure,refused-stream,reset-before-request' }),
  ];
}

function virtualService(namespace: string, retries: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'order', namespace },
    spec: {
      hosts: [`order.${namespace}.svc.cluster.local`],
      http: [{ timeout: '5s', retries, route: [{ destination: { host: `order.${namespace}.svc.cluster.local`, port: { number: 80 } } }] }],
    },
  };
}

/** Every kind is in discovery and the named CRD is Established. */
async function expectServedAndEstablished(crdName: string, kinds: readonly (readonly [apiVersion: string, kind: string])[]): Promise<void> {
  for (const [apiVersion, kind] of kinds) {
    expect(await client.serves(apiVersion, kind), `${apiVersion} ${kind}`).toBe(true);
  }
  const crd = await client.get('apiextensions.k8s.io/v1', 'CustomResourceDefinition', crdName);
  expect((crd?.status as { conditions: { type: string; status: string }[] }).conditions).toContainEqual(
    expect.objectContaining({ type: 'Established', status: 'True' }),
  );
}

describe('kube-apiserver test harness', () => {
  it('serves the Istio kinds the charts emit once the CRDs are installed', async () => {
    await expectServedAndEstablished('virtualservices.networking.istio.io', [
      ['networking.istio.io/v1', 'VirtualService'],
      ['networking.istio.io/v1', 'DestinationRule'],
      ['networking.istio.io/v1', 'Gateway'],
      ['security.istio.io/v1', 'AuthorizationPolicy'],
      ['security.istio.io/v1', 'PeerAuthentication'],
      ['security.istio.io/v1', 'RequestAuthentication'],
    ]);
  });

  it('serves the Strimzi kinds the charts emit, installed by the harness for every test file', async () => {
    await expectServedAndEstablished('kafkas.kafka.strimzi.io', [
      ['kafka.strimzi.io/v1', 'Kafka'],
      ['kafka.strimzi.io/v1', 'KafkaNodePool'],
      ['kafka.strimzi.io/v1', 'KafkaTopic'],
      ['kafka.strimzi.io/v1', 'KafkaUser'],
      ['core.strimzi.io/v1', 'StrimziPodSet'],
    ]);
  });

  it('validates a Strimzi Kafka against its CRD schema', async () => {
    const kafka: KubeObject = { apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka', metadata: { name: 'events', namespace: 'strimzi-schema' }, spec: {} };

    const result = await client.dryRunApply([kafka]);

    expect(result.accepted).toEqual([]);
    expect(result.rejections).toEqual([{ object: 'Kafka strimzi-schema/events', reason: expect.stringContaining('spec.kafka: Required value') }]);
  });

  it('accepts a Deployment, its Service and a VirtualService on server-side dry run without persisting them', async () => {
    const result = await client.dryRunApply(orderService('dry-run-ok'));

    expect(result).toEqual({
      accepted: ['Deployment dry-run-ok/order', 'Service dry-run-ok/order', 'VirtualService dry-run-ok/order'],
      rejections: [],
    });
    expect(await client.get('apps/v1', 'Deployment', 'order', 'dry-run-ok')).toBeUndefined();
    expect(await client.get('networking.istio.io/v1', 'VirtualService', 'order', 'dry-run-ok')).toBeUndefined();
  });

  it('accepts objects exactly as cdk8s Testing.synth emits them', async () => {
    const chart = Testing.chart();
    const deployment = new Deployment(chart, 'order', {
      metadata: { name: 'order', namespace: 'cdk8s-synth' },
      containers: [{ name: 'order', image: 'meshkit/order:0.1.0', portNumber: 8080 }],
    });
    deployment.exposeViaService({ name: 'order', ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
    const vs = virtualService('cdk8s-synth', { attempts: 2 });
    new ApiObject(chart, 'vs', { apiVersion: vs.apiVersion, kind: vs.kind, metadata: vs.metadata, spec: vs.spec });

    const result = await client.dryRunApply(Testing.synth(chart) as KubeObject[]);

    expect(result).toEqual({
      accepted: ['Deployment cdk8s-synth/order', 'Service cdk8s-synth/order', 'VirtualService cdk8s-synth/order'],
      rejections: [],
    });
  });

  // Server-side apply types the patch against the CRD schema before validation runs, so
  // type and unknown-field errors carry the typed-patch wording (and arrive as HTTP 500).
  it('rejects a VirtualService whose retry attempts is a string, with the CRD schema message', async () => {
    const result = await client.dryRunApply([virtualService('dry-run-type', { attempts: 'three' })]);

    expect(result).toEqual({
      accepted: [],
      rejections: [
        {
          object: 'VirtualService dry-run-type/order',
          reason:
            'failed to create typed patch object (dry-run-type/order; networking.istio.io/v1, Kind=VirtualService): ' +
            '.spec.http[0].retries.attempts: expected numeric (int or float), got string',
        },
      ],
    });
  });

  it('rejects a misspelled field instead of pruning it', async () => {
    const result = await client.dryRunApply([virtualService('dry-run-unknown', { attemps: 3 })]);

    expect(result.rejections).toEqual([
      { object: 'VirtualService dry-run-unknown/order', reason: expect.stringContaining('.spec.http[0].retries.attemps: field not declared in schema') },
    ]);
  });

  it("runs the Istio CRD's CEL rules, which no JSON-schema check does", async () => {
    const result = await client.dryRunApply([virtualService('dry-run-cel', { attempts: 2, perTryTimeout: '0s' })]);

    expect(result.rejections).toEqual([
      {
        object: 'VirtualService dry-run-cel/order',
        reason: expect.stringContaining('spec.http[0].retries.perTryTimeout: Invalid value: "string": must be a valid duration greater than 1ms'),
      },
    ]);
  });

  it('reports a kind the server does not serve as a rejection', async () => {
    // No CRD anywhere defines example.com, whichever CRDs the harness installs.
    const widget: KubeObject = { apiVersion: 'widgets.example.com/v1', kind: 'Widget', metadata: { name: 'gadget', namespace: 'unserved' }, spec: {} };

    const result = await client.dryRunApply([widget]);

    expect(result).toEqual({
      accepted: [],
      rejections: [{ object: 'Widget unserved/gadget', reason: 'the server does not serve kind Widget in widgets.example.com/v1 (is its CRD installed?)' }],
    });
  });

  it('creates for real the namespaces the objects declare or only use', async () => {
    const declared: KubeObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-declared', labels: { 'istio-injection': 'enabled' } } };
    const [deployment] = orderService('shop-used');

    const result = await client.dryRunApply([declared, deployment!]);

    expect(result).toEqual({ accepted: ['Namespace shop-declared', 'Deployment shop-used/order'], rejections: [] });
    const namespace = await client.get('v1', 'Namespace', 'shop-declared');
    expect(namespace?.metadata.labels).toMatchObject({ 'istio-injection': 'enabled' });
    expect(await client.get('v1', 'Namespace', 'shop-used')).toMatchObject({ metadata: { name: 'shop-used' } });
    expect(await client.get('apps/v1', 'Deployment', 'order', 'shop-used')).toBeUndefined();
  });

  it('applies, lists and deletes objects for real', async () => {
    const configMap: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'default', labels: { suite: 'harness' } },
      data: { mode: 'real' },
    };

    const [stored] = await client.applyServerSide([configMap]);
    const listed = await client.list('v1', 'ConfigMap', { namespace: 'default', labelSelector: 'suite=harness' });
    const deleted = await client.delete('v1', 'ConfigMap', 'settings', 'default');

    expect(stored?.metadata.managedFields).toEqual([expect.objectContaining({ manager: 'meshkit', operation: 'Apply' })]);
    expect(listed.map((o) => `${o.kind} ${o.metadata.name}`)).toEqual(['ConfigMap settings']);
    expect(deleted).toBe(true);
    expect(await client.get('v1', 'ConfigMap', 'settings', 'default')).toBeUndefined();
    expect(await client.delete('v1', 'ConfigMap', 'settings', 'default')).toBe(false);
  });
});
