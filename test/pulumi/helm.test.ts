import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPlatform } from '../../charts/platform-app.js';
import { versions } from '../../constructs/versions.js';
import { ISTIO_CHART_REPO, STRIMZI_CHART } from '../../pulumi/operators.js';
import { deployPlatform, readConfig } from '../../pulumi/platform.js';
import { installMocks, recorded, settled, type Registration } from './mock-runtime.js';

// `helm` mode on another context, with Secrets created beforehand: the program installs Istio and
// Strimzi itself and only reads the Secrets.
beforeAll(async () => {
  await installMocks({ 'meshkit:operators': 'helm', 'meshkit:kubeContext': 'kind-other', 'meshkit:dbPasswords': 'existing' }, []);
  const deployed = deployPlatform(buildPlatform(), readConfig(new pulumi.Config('meshkit')));
  await settled(deployed.resources);
});

const release = (name: string): Registration => {
  const found = recorded.filter((r) => r.type === 'kubernetes:helm.sh/v3:Release' && r.name === name);
  expect(found, name).toHaveLength(1);
  return found[0]!;
};
const names = (urns: readonly string[]) => urns.map((urn) => recorded.find((r) => r.urn === urn)!.name);

describe('pulumi program with meshkit:operators=helm', () => {
  it('installs Istio base, istiod and the ingress gateway from the Istio chart repository at the pinned version, in order', () => {
    for (const [name, chart] of [
      ['istio-base', 'base'],
      ['istiod', 'istiod'],
      ['istio-ingressgateway', 'gateway'],
    ] as const) {
      expect(release(name).inputs).toMatchObject({ chart, version: versions.istio, namespace: 'istio-system', repositoryOpts: { repo: ISTIO_CHART_REPO } });
    }
    expect(release('istio-base').inputs.createNamespace).toBe(true);
    expect(names(release('istiod').dependencies)).toEqual(['istio-base']);
    expect(names(release('istio-ingressgateway').dependencies)).toEqual(['istiod']);
  });

  it('gives the gateway the NodePorts kind maps to localhost and the identity the edge policies allow', () => {
    const values = release('istio-ingressgateway').inputs.values;
    expect(values.service.type).toBe('NodePort');
    expect(values.service.ports.map((p: { nodePort?: number }) => p.nodePort).filter(Boolean)).toEqual([30080, 30443]);
    const edgePolicy = buildPlatform()
      .shop.toJson()
      .find(
        (o: { kind: string; metadata: { namespace: string } }) =>
          o.kind === 'AuthorizationPolicy' && o.metadata.namespace === 'shop' && JSON.stringify(o).includes('istio-ingressgateway'),
      );
    expect(JSON.stringify(edgePolicy)).toContain(`sa/${values.serviceAccount.name}`);
  });

  it('installs the Strimzi operator at the pinned version into the kafka namespace, after that namespace', () => {
    const strimzi = release('strimzi-kafka-operator');
    expect(strimzi.inputs).toMatchObject({ chart: STRIMZI_CHART, version: versions.strimzi, namespace: 'kafka' });
    expect(names(strimzi.dependencies)).toEqual(['kafka']);
  });

  it('makes mesh resources wait for the Istio releases and Kafka resources for the Strimzi release, reading nothing', () => {
    const objects = recorded.filter((r) => r.type.startsWith('kubernetes:') && r.type.includes('.istio.io/'));
    expect(objects.length).toBeGreaterThan(20);
    for (const o of objects) expect(names(o.dependencies), o.name).toEqual(expect.arrayContaining(['istio-base', 'istiod', 'istio-ingressgateway']));
    for (const o of recorded.filter((r) => r.type.startsWith('kubernetes:kafka.strimzi.io/')))
      expect(names(o.dependencies), o.name).toContain('strimzi-kafka-operator');
    for (const o of recorded.filter((r) => r.type === 'kubernetes:apps/v1:Deployment')) expect(names(o.dependencies), o.name).toContain('istiod');
    expect(recorded.filter((r) => r.read && r.type !== 'kubernetes:core/v1:Secret')).toEqual([]);
  });

  it('with meshkit:dbPasswords=existing reads each database Secret instead of writing it, and services still wait for it', () => {
    const platform = buildPlatform();
    const secrets = recorded.filter((r) => r.type === 'kubernetes:core/v1:Secret');
    expect(secrets.map((s) => `${s.read} ${s.name}`).sort()).toEqual(platform.requiredSecrets.map((s) => `true ${s.namespace}/${s.name}`).sort());
    const order = recorded.find((r) => r.type === 'kubernetes:apps/v1:Deployment' && r.name === 'shop/order')!;
    expect(names(order.dependencies)).toContain('shop/order-db-credentials');
  });

  it('binds the provider to the configured context', () => {
    expect(recorded.find((r) => r.type === 'pulumi:providers:kubernetes')?.inputs).toMatchObject({ context: 'kind-other' });
  });
});
