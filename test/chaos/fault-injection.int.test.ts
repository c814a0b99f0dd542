import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseObjects } from '../../manifests/parse.js';
import { synthChaos } from '../../chaos/synth.js';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';

const client = new KubeClient(inject('kube'));
afterAll(() => client.close());

function synthesized(): KubeObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'meshkit-chaos-int-'));
  try {
    return synthChaos(dir).flatMap((file) => parseObjects(readFileSync(file, 'utf8'), file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the chaos resources on a real kube-apiserver (Istio CRDs installed)', () => {
  it('are accepted by server-side dry-run, object by object', async () => {
    const objects = synthesized();
    const result = await client.dryRunApply(objects);
    expect(result.rejections).toEqual([]);
    expect(result.accepted).toEqual(['VirtualService shop/edge-faults', 'VirtualService shop/naive-retry']);
  });

  it('are checked against the real schema: a fault with a mistyped status is refused with the reason', async () => {
    const broken = structuredClone(synthesized()[0]!) as KubeObject & { spec: { http: { fault?: { abort?: { httpStatus: unknown } } }[] } };
    broken.spec.http[0]!.fault!.abort!.httpStatus = 'five hundred and three';
    const result = await client.dryRunApply([broken]);
    expect(result.accepted).toEqual([]);
    expect(result.rejections).toHaveLength(1);
    expect(result.rejections[0]!.reason).toMatch(/httpStatus/);
  });
});
