import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPlatform } from '../../charts/platform-app.js';
import { callGraph, services } from '../../charts/platform.js';
import { derivePassword } from '../../pulumi/passwords.js';
import { deployPlatform, readConfig, resourceNameOf, typeTokenOf, type DeployedPlatform } from '../../pulumi/platform.js';
import type { KubeObject } from '../../manifests/kube-object.js';
import { installMocks, recorded, settled, valueOf, type Registration } from './mock-runtime.js';

// Default stack config: only the required secret seed is set.
const seed = 'an-example-seed-that-is-long-enough-0123456789';
const platform = buildPlatform();
const synthesized = platform.app.charts.flatMap((chart) => (chart.toJson() as KubeObject[]).map((object) => ({ chart: chart.node.id, object })));
let deployed: DeployedPlatform;

beforeAll(async () => {
  await installMocks({ 'meshkit:dbPasswordSeed': seed }, ['meshkit:dbPasswordSeed']);
  deployed = deployPlatform(platform, readConfig(new pulumi.Config('meshkit')));
  await settled(deployed.resources);
});

const managed = () => recorded.filter((r) => r.type.startsWith('kubernetes:') && !r.read);
const reads = () => recorded.filter((r) => r.read);
const one = (type: string, name: string): Registration => {
  const found = recorded.filter((r) => r.type === type && r.name === name && !r.read);
  expect(found, `${type} ${name}`).toHaveLength(1);
  return found[0]!;
};
const registrationOf = (o: KubeObject) => one(typeTokenOf(o), resourceNameOf(o));
const byUrn = (urn: string) => recorded.find((r) => r.urn === urn);
const depsOf = (r: Registration) => r.dependencies.map((urn) => byUrn(urn)!);
const dependsOnObject = (r: Registration, o: KubeObject) => r.dependencies.includes(registrationOf(o).urn);
const find = (kind: string, namespace: string | undefined, name: string) => {
  const o = synthesized.find((s) => s.object.kind === kind && s.object.metadata.namespace === namespace && s.object.metadata.name === name)?.object;
  if (!o) throw new Error(`no synthesized ${kind} ${namespace}/${name}`);
  return o;
};
/** Removes the secret wrapper the SDK puts around secret inputs ({ <sig>: <secret sig>, value }). */
const unwrapSecret = (value: Record<string, unknown>) => {
  expect(value[pulumi.runtime.specialSigKey]).toBe(pulumi.runtime.specialSecretSig);
  return value['value'] as Record<string, string>;
};

describe('pulumi program: one resource per synthesized object', () => {
  it('registers every object of every chart exactly once, with its kind, name, namespace and manifest as inputs', () => {
    expect(synthesized.length).toBeGreaterThan(50);
    for (const { object } of synthesized) {
      const r = registrationOf(object);
      expect(r.inputs, `${object.kind} ${resourceNameOf(object)}`).toEqual(JSON.parse(JSON.stringify(object)));
    }
  });

  it('registers nothing else in the cluster but the database Secrets', () => {
    const expected = [
      ...synthesized.map(({ object }) => `${typeTokenOf(object)} ${resourceNameOf(object)}`),
      ...platform.requiredSecrets.map((s) => `kubernetes:core/v1:Secret ${s.namespace}/${s.name}`),
    ].sort();
    expect(
      managed()
        .map((r) => `${r.type} ${r.name}`)
        .sort(),
    ).toEqual(expected);
  });

  it('groups each object under a component named after its cdk8s chart', () => {
    for (const { chart, object } of synthesized) {
      expect(byUrn(registrationOf(object).parent), resourceNameOf(object)).toMatchObject({ type: 'meshkit:platform:Chart', name: chart });
    }
  });

  it('sends every Kubernetes object through the one provider, bound to the kind-meshkit context', () => {
    const provider = one('pulumi:providers:kubernetes', 'cluster');
    expect(provider.inputs).toMatchObject({ context: 'kind-meshkit' });
    for (const r of [...managed(), ...reads()]) expect(r.provider, r.name).toBe(`${provider.urn}::${provider.name}_id`);
  });
});

describe('pulumi program: order', () => {
  const istioCrds: Record<string, string> = {
    AuthorizationPolicy: 'authorizationpolicies.security.istio.io',
    DestinationRule: 'destinationrules.networking.istio.io',
    Gateway: 'gateways.networking.istio.io',
    PeerAuthentication: 'peerauthentications.security.istio.io',
    RequestAuthentication: 'requestauthentications.security.istio.io',
    VirtualService: 'virtualservices.networking.istio.io',
  };

  it('puts every object of the shop and kafka namespaces after its Namespace', () => {
    for (const { object } of synthesized.filter((s) => s.object.metadata.namespace && s.object.metadata.namespace !== 'istio-system')) {
      expect(dependsOnObject(registrationOf(object), find('Namespace', undefined, object.metadata.namespace!)), resourceNameOf(object)).toBe(true);
    }
  });

  it('creates every VirtualService after the DestinationRules of the hosts it routes to', () => {
    const virtualServices = synthesized.filter((s) => s.object.kind === 'VirtualService').map((s) => s.object);
    expect(virtualServices.length).toBe(services.length + 1); // one per service and the edge routes
    for (const vs of virtualServices) {
      const hosts = new Set<string>(
        vs.spec.http.flatMap((h: { route: { destination: { host: string } }[] }) => h.route.map((r) => r.destination.host.split('.')[0])),
      );
      const rules = depsOf(registrationOf(vs)).filter((d) => d.type.endsWith(':DestinationRule'));
      expect(rules.map((d) => d.name.split('/')[1]).sort(), vs.metadata.name).toEqual([...hosts].sort());
    }
  });

  it('creates Istio resources only after the Istio CRDs and istiod were found in the cluster', () => {
    const istio = synthesized.filter((s) => s.object.apiVersion.includes('.istio.io/'));
    expect(istio.length).toBeGreaterThan(20);
    for (const { object } of istio) {
      const deps = depsOf(registrationOf(object));
      expect(
        deps.filter((d) => d.read).map((d) => d.name),
        resourceNameOf(object),
      ).toEqual(expect.arrayContaining([`crd/${istioCrds[object.kind]}`, 'istio-system/istiod']));
    }
  });

  it('creates Strimzi resources after the Strimzi CRDs and operator, node pool before Kafka before topics', () => {
    const kafka = find('Kafka', 'kafka', 'meshkit');
    const pool = synthesized.find((s) => s.object.kind === 'KafkaNodePool')!.object;
    const deps = (o: KubeObject) => depsOf(registrationOf(o)).map((d) => `${d.type.split(':').pop()} ${d.name}`);
    expect(deps(kafka)).toEqual(
      expect.arrayContaining([
        `KafkaNodePool ${resourceNameOf(pool)}`,
        'CustomResourceDefinition crd/kafkas.kafka.strimzi.io',
        'Deployment kafka/strimzi-cluster-operator',
      ]),
    );
    for (const topic of synthesized.filter((s) => s.object.kind === 'KafkaTopic').map((s) => s.object)) {
      expect(deps(topic)).toEqual(expect.arrayContaining(['Kafka kafka/meshkit', 'CustomResourceDefinition crd/kafkatopics.kafka.strimzi.io']));
    }
  });

  it('starts each service after its ServiceAccount, database Secret and database, and after the services it calls', () => {
    for (const spec of services) {
      const deps = depsOf(registrationOf(find('Deployment', 'shop', spec.name))).map((d) => `${d.type.split(':').pop()} ${d.name}`);
      expect(deps, spec.name).toEqual(
        expect.arrayContaining([`ServiceAccount shop/${spec.name}`, `Secret shop/${spec.name}-db-credentials`, `StatefulSet shop/${spec.name}-db`]),
      );
      const callees = callGraph.filter((e) => e.from === spec.name).map((e) => `Deployment shop/${e.to}`);
      expect(deps.filter((d) => d.startsWith('Deployment shop/')).sort(), spec.name).toEqual(callees.sort());
      // Pods created before istiod's injection webhook would run without their sidecar.
      expect(deps, spec.name).toContain('Deployment istio-system/istiod');
    }
  });

  it('starts Kafka clients after the cluster and the topics they use', () => {
    const order = depsOf(registrationOf(find('Deployment', 'shop', 'order'))).map((d) => d.name);
    expect(order).toEqual(expect.arrayContaining(['kafka/meshkit', 'kafka/orders-events']));
    const user = depsOf(registrationOf(find('Deployment', 'shop', 'user'))).map((d) => d.name);
    expect(user).not.toContain('kafka/meshkit');
  });

  it('checks for exactly the CRDs of the kinds the platform uses, and the operator Deployments', () => {
    expect(reads().map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'crd/authorizationpolicies.security.istio.io',
        'crd/destinationrules.networking.istio.io',
        'crd/gateways.networking.istio.io',
        'crd/kafkanodepools.kafka.strimzi.io',
        'crd/kafkas.kafka.strimzi.io',
        'crd/kafkatopics.kafka.strimzi.io',
        'crd/peerauthentications.security.istio.io',
        'crd/requestauthentications.security.istio.io',
        'crd/virtualservices.networking.istio.io',
        'istio-system/istiod',
        'istio-system/istio-ingressgateway',
        'kafka/strimzi-cluster-operator',
      ]),
    );
    expect(reads()).toHaveLength(12);
    expect(recorded.filter((r) => r.type.startsWith('kubernetes:helm'))).toEqual([]);
  });
});

describe('pulumi program: database Secrets', () => {
  const secrets = () => managed().filter((r) => r.type === 'kubernetes:core/v1:Secret');

  it('creates each Secret the manifests reference, with a secret password derived from the seed', () => {
    expect(
      secrets()
        .map((s) => s.name)
        .sort(),
    ).toEqual(platform.requiredSecrets.map((s) => `${s.namespace}/${s.name}`).sort());
    for (const ref of platform.requiredSecrets) {
      const secret = one('kubernetes:core/v1:Secret', `${ref.namespace}/${ref.name}`);
      const data = unwrapSecret(secret.inputs.stringData);
      expect(Object.keys(data)).toEqual([...ref.keys]);
      for (const key of ref.keys) expect(data[key]).toBe(derivePassword(seed, ref, key));
    }
  });

  it('gives every database its own password, which no synthesized object contains', () => {
    const passwords = secrets().flatMap((s) => Object.values(unwrapSecret(s.inputs.stringData)));
    expect(new Set(passwords).size).toBe(platform.requiredSecrets.length);
    const manifests = JSON.stringify(synthesized);
    for (const p of passwords) {
      expect(p).toMatch(/^[0-9a-f]{64}$/);
      expect(manifests).not.toContain(p);
    }
  });
});

describe('pulumi program: outputs', () => {
  it('exposes the gateway URL, the namespaces and the managed Secrets', async () => {
    expect(await valueOf(deployed.gatewayUrl)).toBe('http://localhost:8080');
    expect(await valueOf(deployed.namespaces)).toEqual(['shop', 'kafka']);
    expect(deployed.databaseSecrets.sort()).toEqual(services.map((s) => `shop/${s.name}-db-credentials`).sort());
  });
});
