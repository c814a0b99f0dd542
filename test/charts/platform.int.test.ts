import { afterAll, describe, expect, inject, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';
import { synthPlatform } from '../support/platform.js';

const client = new KubeClient(inject('kube'));
const { objects } = synthPlatform();

// The harness installs Strimzi's own CRDs (from its CRD generator on Maven Central) next to Istio's,
// so the API server validates the Kafka objects too.
afterAll(() => client.close());

describe('the synthesized platform on a real kube-apiserver', () => {
  it('is accepted object by object by server-side dry-run, Istio and Strimzi resources included', async () => {
    const result = await client.dryRunApply(objects as KubeObject[]);
    expect(result.rejections).toEqual([]);
    expect(result.accepted).toHaveLength(objects.length);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of ['Deployment', 'StatefulSet', 'VirtualService', 'DestinationRule', 'Kafka', 'KafkaNodePool', 'KafkaTopic', 'PodDisruptionBudget']) {
      expect(kinds).toContain(kind);
    }
  });

  it('has Strimzi objects checked against the real schema: a malformed node pool is refused with the reason', async () => {
    const pool = structuredClone(objects.find((o) => o.kind === 'KafkaNodePool')!) as KubeObject & { spec: { replicas: unknown } };
    pool.spec.replicas = 'one';
    const result = await client.dryRunApply([pool]);
    expect(result.accepted).toEqual([]);
    expect(result.rejections).toHaveLength(1);
    expect(result.rejections[0]!.object).toBe('KafkaNodePool kafka/dual-role');
    expect(result.rejections[0]!.reason).toMatch(/spec\.replicas/);
  });
});
