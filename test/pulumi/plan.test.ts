import { readFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { crdNames, pluralOf } from '../../pulumi/operators.js';
import { derivePassword } from '../../pulumi/passwords.js';
import { topologicalOrder } from '../../manifests/deploy-order.js';
import type { KubeObject } from '../../manifests/kube-object.js';
import { planPlatform, type PlannedResource } from '../../pulumi/plan.js';
import { configDefaults, readConfig } from '../../pulumi/platform.js';

const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const opts = { istioNamespace: 'istio-system' };

describe('deployment plan', () => {
  it('puts dependencies first whatever the input order', () => {
    const vs: KubeObject = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'a', namespace: 'app' },
      spec: { http: [{ route: [{ destination: { host: 'a.app.svc.cluster.local' } }] }] },
    };
    const dr: KubeObject = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'a', namespace: 'app' }, spec: { host: 'a' } };
    const plan = planPlatform([{ chart: 'c', objects: [vs, dr, ns('app')] }], [], opts);
    expect(plan.map((p) => `${p.object.kind}`)).toEqual(['Namespace', 'DestinationRule', 'VirtualService']);
    expect(plan[2]!.dependsOn).toEqual(['networking.istio.io/v1 DestinationRule app/a', 'v1 Namespace /app']);
    expect(plan[2]!.operators).toEqual(['istio']);
  });

  it('rejects an object in a namespace nobody creates', () => {
    expect(() =>
      planPlatform([{ chart: 'c', objects: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'ghost' } }] }], [], opts),
    ).toThrow("v1 Service ghost/s: namespace 'ghost' is neither created by the platform nor by an operator");
  });

  it('rejects a custom resource of an API group no known operator serves', () => {
    expect(() =>
      planPlatform([{ chart: 'c', objects: [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'x' } }] }], [], opts),
    ).toThrow("no operator is known for API group 'cert-manager.io'");
  });

  it('rejects an object declared twice, e.g. a Secret the charts already contain', () => {
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'app' } };
    expect(() => planPlatform([{ chart: 'c', objects: [ns('app'), secret] }], [{ name: 'db', namespace: 'app', keys: ['password'] }], opts)).toThrow(
      'v1 Secret app/db is declared twice',
    );
  });

  it('reports a dependency cycle with its path', () => {
    const entry = (key: string, dependsOn: string[]): PlannedResource => ({ key, chart: 'c', object: ns(key), dependsOn, operators: [] });
    expect(() => topologicalOrder([entry('a', ['b']), entry('b', ['a'])])).toThrow('dependency cycle: a -> b -> a');
  });
});

describe('operators', () => {
  it('names CRDs with Kubernetes plurals', () => {
    expect(['Kafka', 'AuthorizationPolicy', 'Gateway', 'Ingress'].map(pluralOf)).toEqual(['kafkas', 'authorizationpolicies', 'gateways', 'ingresses']);
    expect(
      crdNames([
        { apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka' },
        { apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka' },
      ]),
    ).toEqual(['kafkas.kafka.strimzi.io']);
  });
});

describe('database passwords', () => {
  const seed = 'a'.repeat(32);
  const ref = { namespace: 'shop', name: 'order-db-credentials' };

  it('are stable for one seed and Secret, and differ between Secrets, keys and seeds', () => {
    expect(derivePassword(seed, ref, 'password')).toBe(derivePassword(seed, { ...ref }, 'password'));
    const others = [
      derivePassword(seed, { ...ref, name: 'user-db-credentials' }, 'password'),
      derivePassword(seed, ref, 'other'),
      derivePassword('b'.repeat(32), ref, 'password'),
    ];
    expect(new Set([derivePassword(seed, ref, 'password'), ...others]).size).toBe(4);
  });

  it('refuse a short seed, saying how to make a good one', () => {
    expect(() => derivePassword('short', ref, 'password')).toThrow("'meshkit:dbPasswordSeed' has 5 characters, at least 32 are needed");
  });
});

describe('stack config', () => {
  const configWith = (values: Record<string, string>) => {
    pulumi.runtime.setAllConfig(values, ['meshkit:dbPasswordSeed']);
    return new pulumi.Config('meshkit');
  };

  it('defaults to the kind-meshkit context, preinstalled operators and localhost:8080', () => {
    expect(readConfig(configWith({ 'meshkit:dbPasswordSeed': 'x'.repeat(32) }))).toMatchObject(configDefaults);
  });

  it('rejects an unknown operators mode', () => {
    expect(() => readConfig(configWith({ 'meshkit:dbPasswordSeed': 'x'.repeat(32), 'meshkit:operators': 'istioctl' }))).toThrow(
      "'meshkit:operators' is 'istioctl': use 'preinstalled' or 'helm'",
    );
  });

  it('requires the password seed', () => {
    expect(() => readConfig(configWith({}))).toThrow(/meshkit:dbPasswordSeed/);
  });

  it('declares the same defaults in Pulumi.yaml as the program applies', () => {
    const project = parse(readFileSync(new URL('../../pulumi/Pulumi.yaml', import.meta.url), 'utf8'));
    const declared = Object.fromEntries(Object.entries(project.config as Record<string, { default: string }>).map(([k, v]) => [k, v.default]));
    expect(declared).toEqual(configDefaults);
    expect(project).toMatchObject({ name: 'meshkit', runtime: { name: 'nodejs' }, main: 'index.ts' });
  });
});
