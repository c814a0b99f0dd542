import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { smoke } from '../../cli/smoke.js';
import { startMeshShop, type MeshShop } from '../../local/mesh/mesh-shop.js';
import { networkLeftovers } from '../../local/mesh/pod-network.js';
import type { KubeObject } from '../../infra/kube-client.js';
import { synthPlatform } from '../support/platform.js';
import { edgeFaultTests } from './edge-faults.js';
import { edgeJwtTests } from './edge-jwt.js';

/**
 * The whole shop as `make synth` writes it (synthesized here, so a fresh clone needs no dist/) on the mesh runtime: istiod, a sidecar in every shop pod, the
 * ingress gateway. `make smoke`'s own steps (cli/smoke.ts) run through the gateway; then JWT
 * (edge-jwt.ts) and fault injection (edge-faults.ts) at the gateway, on the same shop: one start
 * (~2 min warm) serves every test of the shop on the mesh.
 */
describe('the shop on a real Istio data plane', () => {
  let shop: MeshShop;

  beforeAll(async () => {
    const began = Date.now();
    const { platform, objects } = synthPlatform();
    shop = await startMeshShop({
      kube: inject('kube'),
      manifests: objects as KubeObject[],
      secrets: platform.requiredSecrets,
      gatewayPort: 0,
      readyTimeoutMs: 900_000,
      log: (line) => console.error(`[mesh] ${line}`),
    });
    console.error(`shop on the mesh ready in ${((Date.now() - began) / 1000).toFixed(1)} s\n${shop.describe()}`);
  }, 1_800_000);

  afterAll(async () => {
    await shop?.stop();
  }, 120_000);

  it('runs every synthesized replica in its own namespace, the shop pods with a sidecar', () => {
    const pods = shop.pods();
    expect(shop.podsOf('order', 'shop')).toHaveLength(2);
    for (const pod of pods.filter((p) => p.namespace === 'shop')) expect(pod.sidecar, pod.name).toBeDefined();
    expect(pods.find((p) => p.namespace === 'kafka')?.sidecar).toBeUndefined();
  });

  it('places an order through the gateway that ends CONFIRMED with its notification', async () => {
    const results = await smoke({ baseUrl: shop.gatewayUrl!, settleTimeoutMs: 90_000 });
    const failed = results.filter((r) => r.outcome !== 'pass');
    expect(failed, JSON.stringify(results, null, 2)).toEqual([]);
  }, 300_000);

  it('refuses an order without a JWT at the gateway', async () => {
    const res = await fetch(`${shop.gatewayUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(403);
  });

  edgeJwtTests(() => shop);
  edgeFaultTests(() => shop);

  it('stop() leaves no process, namespace, veth, bridge or mount behind', async () => {
    const prefix = shop.network.prefix;
    await shop.stop();
    expect(await networkLeftovers(prefix)).toEqual({ netns: [], links: [], etcNetns: [], mounts: [] });
  }, 120_000);
});
