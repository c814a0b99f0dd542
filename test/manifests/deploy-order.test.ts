import { describe, expect, it } from 'vitest';
import { dependenciesOf, orderForApply, topologicalOrder } from '../../manifests/deploy-order.js';
import { keyOf, type KubeObject } from '../../manifests/kube-object.js';
import { synthPlatform } from '../support/platform.js';

const objects = synthPlatform().objects as KubeObject[];
const byKey = new Map(objects.map((o) => [keyOf(o), o]));

describe('the deploy order of the shipped platform', () => {
  it('finds what the workloads wait for: the database before its service, the callee before the caller, topics before their users', () => {
    const deps = (kind: string, name: string) =>
      dependenciesOf(
        objects.find((o) => o.kind === kind && o.metadata.name === name)!,
        objects,
      ).map((k) => `${byKey.get(k)!.kind}/${byKey.get(k)!.metadata.name}`);
    expect(deps('Deployment', 'order')).toEqual(
      expect.arrayContaining(['Namespace/shop', 'StatefulSet/order-db', 'Deployment/payment', 'Deployment/user', 'Kafka/meshkit']),
    );
    expect(deps('Deployment', 'order')).toContainEqual(expect.stringMatching(/^KafkaTopic\//));
    expect(deps('VirtualService', 'payment')).toContain('DestinationRule/payment');
  });

  it('applies one by one (the CLI) in an order that never contradicts a dependency between two kinds', () => {
    const position = new Map(orderForApply(objects).map((o, i) => [keyOf(o), i]));
    const contradictions = objects.flatMap((o) =>
      dependenciesOf(o, objects)
        .filter((d) => byKey.get(d)!.kind !== o.kind && position.get(d)! > position.get(keyOf(o))!)
        .map((d) => `${keyOf(o)} waits for ${d}`),
    );
    expect(contradictions).toEqual([]);
  });

  it('lists the dependency graph (Pulumi) with every dependency first and otherwise by kind', () => {
    const entries = objects.map((object) => ({ key: keyOf(object), object, dependsOn: dependenciesOf(object, objects) }));
    const ordered = topologicalOrder(entries).map((e) => e.key);
    for (const e of entries) for (const d of e.dependsOn) expect(ordered.indexOf(d), `${e.key} after ${d}`).toBeLessThan(ordered.indexOf(e.key));
    expect(byKey.get(ordered[0]!)!.kind).toBe('Namespace');
  });
});
