import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { callGraph, edgeAuth, meshRoute, services, type ServiceName } from '../../charts/platform.js';
import { ensureIstio } from '../../infra/istio.js';
import { startIstiod, type RunningIstiod } from '../../infra/istiod.js';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';
import { networkLeftovers, PodNetwork } from '../../local/mesh/pod-network.js';
import { synthPlatform } from '../support/platform.js';
import { appPort, clusterStats, startTestPod, writeEndpointSlices, type TestPod } from './test-pods.js';

// meshkit's synthesized policies (`make synth`'s dist/) executed by istiod and real Envoy sidecars: the shop's
// pods run small test servers (tests/mesh-policy/test-pods.ts) that fail, hang or count on
// demand, so every assertion rests on what reached an app and on Envoy's own counters.
const kube = inject('kube');
const client = new KubeClient(kube);
// What `make synth` writes to dist/ from the model now (the committed dist/ can lag behind the model).
const objects = synthPlatform().objects as KubeObject[];
const shop = 'shop';
const applied: KubeObject[] = [];
const pods = new Map<string, TestPod>();
const clusterIps = new Map<string, string>();
let network: PodNetwork | undefined;
let istiod: RunningIstiod | undefined;

const fqdn = (service: string) => `${service}.${shop}.svc.cluster.local`;
const cluster = (service: string) => `outbound|${appPort}|v1|${fqdn(service)}`;
const pod = (name: string) => pods.get(name)!;
/** The first pod of a service, which every test that needs one of its pods takes. */
const firstPod = (service: string) => `${service}-0`;
/** The service serving the JWKS: its port is PERMISSIVE for that path (PeerAuthentication <service>-jwks). */
const jwksService = edgeAuth.jwks.service;
const deployment = (service: string) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === service)!;

/** Requests that reached every pod of `service` for `key` (`METHOD path[ key]`). */
async function reached(service: string, key: string): Promise<number> {
  let total = 0;
  for (const p of pods.values()) if (p.service === service) total += (await p.counts()).counts[key] ?? 0;
  return total;
}

async function clearAll(): Promise<void> {
  await Promise.all([...pods.values()].map((p) => p.clear()));
}

/** Differences of Envoy's counters around `action`. */
async function delta(caller: TestPod, service: string, action: () => Promise<void>): Promise<Record<string, number>> {
  const before = await clusterStats(caller.sidecar!, cluster(service));
  await action();
  const after = await clusterStats(caller.sidecar!, cluster(service));
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

beforeAll(async () => {
  const started = Date.now();
  const binaries = await ensureIstio();
  network = await PodNetwork.create();
  istiod = await startIstiod(kube, { host: network.gatewayIp });
  // The shop namespace and what lives in it and in istio-system (the edge's Gateway, RequestAuthentication, mesh-wide policy).
  const shopObjects = objects.filter((o) => (o.kind === 'Namespace' ? o.metadata.name === shop : [shop, 'istio-system'].includes(o.metadata.namespace ?? '')));
  // The shop as dist/ declares it, but no Deployment or StatefulSet: nothing would run their pods here; the test's do.
  const toApply = shopObjects.filter((o) => !['Deployment', 'StatefulSet'].includes(o.kind));
  applied.push(...(await client.applyServerSide(toApply)));
  for (const service of await client.list('v1', 'Service', { namespace: shop })) {
    clusterIps.set(service.metadata.name, (service.spec as { clusterIP: string }).clusterIP);
  }
  const setup = { kube, client, network, istiod, pilotAgent: binaries.pilotAgent, clusterIps };
  // One pod of every service of the model, and a second order pod (two callers with their own Envoy
  // state: outlier ejections live in the caller) and payment pod (outlier detection and maxEjectionPercent need two).
  const layout: [string, ServiceName][] = [
    ...services.map((s): [string, ServiceName] => [firstPod(s.name), s.name]),
    ['order-1', 'order'],
    ['payment-1', 'payment'],
  ];
  // Every pod that did start is kept for afterAll, also when another failed: it stops them and deletes their Pod objects.
  const starts = await Promise.allSettled(layout.map(([name, service]) => startTestPod(setup, deployment(service), name)));
  for (const start of starts) if (start.status === 'fulfilled') pods.set(start.value.name, start.value);
  const failed = starts.find((start) => start.status === 'rejected');
  if (failed) throw failed.reason;
  // A pod of the shop without a sidecar (as if injection had been skipped): the plaintext client.
  // It runs as notification's ServiceAccount but carries no Service's labels, so no Service sends it traffic.
  pods.set('plain-0', await startTestPod(setup, deployment('notification'), 'plain-0', { sidecar: false, labels: { app: 'plain-client' } }));
  await writeEndpointSlices(client, shop);
  // istiod has pushed the endpoints once every caller's Envoy has both payment pods in the v1 subset.
  for (const caller of ['order-0', 'order-1']) {
    await client.waitFor(
      `${caller}'s Envoy has both payment pods`,
      async () => {
        const clusters = await pod(caller).sidecar!.admin('/clusters');
        return ['payment-0', 'payment-1'].every((p) => clusters.includes(`${cluster('payment')}::${pod(p).ip}:${appPort}::`));
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  }
  console.error(`[mesh-policy] istiod and ${layout.length} sidecars ready in ${Math.round((Date.now() - started) / 1000)} s`);
}, 600_000);

afterAll(async () => {
  for (const p of pods.values()) {
    await p.sidecar?.stop();
    await p.server.stop();
  }
  await istiod?.stop();
  const prefix = network?.prefix;
  await network?.destroy();
  for (const name of pods.keys()) await client.delete('v1', 'Pod', name, shop).catch(() => undefined);
  for (const slice of await client.list('discovery.k8s.io/v1', 'EndpointSlice', { namespace: shop })) {
    await client.delete('discovery.k8s.io/v1', 'EndpointSlice', slice.metadata.name, shop);
  }
  for (const object of applied.reverse()) {
    if (object.kind !== 'Namespace') await client.delete(object.apiVersion, object.kind, object.metadata.name, object.metadata.namespace);
  }
  client.close();
  if (prefix) {
    const left = await networkLeftovers(prefix);
    if (Object.values(left).some((l) => l.length > 0)) throw new Error(`left behind: ${JSON.stringify(left)}`);
  }
}, 120_000);

describe('route classes from the synthesized VirtualServices, on the order sidecar', () => {
  it('retries a read (order -> user GET /users/{id}) on 503 twice, 3 tries in all, then answers 503', async () => {
    await clearAll();
    await pod('user-0').setBehaviour({ status: 503 });
    let results: Awaited<ReturnType<TestPod['call']>> = [];
    const stats = await delta(pod('order-0'), 'user', async () => {
      results = await pod('order-0').call('user', 'GET', '/users/u1');
    });
    expect(results[0]!.status).toBe(503);
    expect(await reached('user', 'GET /users/u1')).toBe(3);
    expect(stats.upstream_rq_retry).toBe(2);
    expect(stats.upstream_rq_retry_limit_exceeded).toBe(1);
  });

  it("times a read's tries out at its per-try timeout (300 ms) and gives up within the route's 1 s timeout", async () => {
    await clearAll();
    await pod('user-0').setBehaviour({ delayMs: 5_000 });
    let results: Awaited<ReturnType<TestPod['call']>> = [];
    const stats = await delta(pod('order-0'), 'user', async () => {
      results = await pod('order-0').call('user', 'GET', '/users/u2');
    });
    expect(results[0]!.status).toBe(504);
    expect(await reached('user', 'GET /users/u2')).toBe(3);
    expect(stats.upstream_rq_per_try_timeout).toBe(3);
    expect(stats.upstream_rq_retry).toBe(2);
    // 3 x 300 ms plus two backoffs of at most 2 x 25 ms; never more than the route's 1 s.
    expect(results[0]!.ms).toBeGreaterThanOrEqual(900);
    expect(results[0]!.ms).toBeLessThan(1_400);
  });

  it('retries an idempotent write with its key (order -> payment POST /charges) on 503 and on a reset after it reached the app', async () => {
    await clearAll();
    for (const p of ['payment-0', 'payment-1']) await pod(p).setBehaviour({ status: 503 });
    const onStatus = await delta(pod('order-0'), 'payment', async () => {
      const [result] = await pod('order-0').call('payment', 'POST', '/charges', { headers: { 'idempotency-key': 'k1' } });
      expect(result!.status).toBe(503);
    });
    expect(await reached('payment', 'POST /charges key')).toBe(3);
    expect(onStatus.upstream_rq_retry).toBe(2);
    await clearAll();
    for (const p of ['payment-0', 'payment-1']) await pod(p).setBehaviour({ reset: true });
    const onReset = await delta(pod('order-0'), 'payment', async () => {
      const [result] = await pod('order-0').call('payment', 'POST', '/charges', { headers: { 'idempotency-key': 'k2' } });
      expect(result!.status).toBe(503);
    });
    expect(await reached('payment', 'POST /charges key')).toBe(3);
    expect(onReset.upstream_rq_retry).toBe(2);
  });

  it('does not retry a write without its key once it reached the app (a reset after the request, or a 503)', async () => {
    await clearAll();
    for (const p of ['payment-0', 'payment-1']) await pod(p).setBehaviour({ reset: true });
    const onReset = await delta(pod('order-0'), 'payment', async () => {
      const [result] = await pod('order-0').call('payment', 'POST', '/charges');
      expect(result!.status).toBe(503);
    });
    expect(await reached('payment', 'POST /charges')).toBe(1);
    expect(onReset.upstream_rq_retry ?? 0).toBe(0);
    await clearAll();
    for (const p of ['payment-0', 'payment-1']) await pod(p).setBehaviour({ status: 503 });
    const onStatus = await delta(pod('order-0'), 'payment', async () => {
      const [result] = await pod('order-0').call('payment', 'POST', '/charges');
      expect(result!.status).toBe(503);
    });
    expect(await reached('payment', 'POST /charges')).toBe(1);
    expect(onStatus.upstream_rq_retry ?? 0).toBe(0);
  });

  it("ends a hanging write without its key at the route's overall timeout (3 s), tried once", async () => {
    await clearAll();
    for (const p of ['payment-0', 'payment-1']) await pod(p).setBehaviour({ delayMs: 6_000 });
    let results: Awaited<ReturnType<TestPod['call']>> = [];
    const stats = await delta(pod('order-0'), 'payment', async () => {
      results = await pod('order-0').call('payment', 'POST', '/charges');
    });
    expect(results[0]!.status).toBe(504);
    expect(results[0]!.ms).toBeGreaterThanOrEqual(2_900);
    expect(results[0]!.ms).toBeLessThan(4_000);
    expect(stats.upstream_rq_timeout).toBe(1);
    expect(await reached('payment', 'POST /charges')).toBe(1);
  });
});

describe("payment's DestinationRule in order-1's Envoy", () => {
  it('ejects a pod after 3 consecutive 5xx, and maxEjectionPercent 50 keeps the second failing pod of two in rotation', async () => {
    await clearAll();
    const caller = pod('order-1');
    await pod('payment-1').setBehaviour({ status: 500 });
    const first = await delta(caller, 'payment', async () => {
      // Sequential writes without a key: no retries, so each 5xx is one the caller saw.
      for (let i = 0; i < 20; i++) await caller.call('payment', 'POST', '/charges');
    });
    expect(first['outlier_detection.ejections_enforced_consecutive_5xx']).toBe(1);
    const failedBefore = (await pod('payment-1').counts()).counts['POST /charges'] ?? 0;
    expect(failedBefore).toBeGreaterThanOrEqual(3);
    const healthy = await delta(caller, 'payment', async () => {
      for (let i = 0; i < 10; i++) expect((await caller.call('payment', 'POST', '/charges'))[0]!.status).toBe(200);
    });
    expect(healthy['outlier_detection.ejections_active'] ?? 0).toBe(0);
    expect((await pod('payment-1').counts()).counts['POST /charges'] ?? 0).toBe(failedBefore);
    // Now the other pod fails too: ejecting it would leave none, so it stays and answers its 500.
    await pod('payment-0').setBehaviour({ status: 500 });
    const second = await delta(caller, 'payment', async () => {
      for (let i = 0; i < 6; i++) expect((await caller.call('payment', 'POST', '/charges'))[0]!.status).toBe(500);
    });
    expect(second['outlier_detection.ejections_enforced_consecutive_5xx'] ?? 0).toBe(0);
    expect(second['outlier_detection.ejections_overflow']).toBeGreaterThanOrEqual(1);
    const stats = await clusterStats(caller.sidecar!, cluster('payment'));
    expect(stats['outlier_detection.ejections_active']).toBe(1);
    expect((await pod('payment-0').counts()).counts['POST /charges']).toBeGreaterThanOrEqual(6);
  });
});

describe("payment's connection pool in order-0's Envoy", () => {
  it('refuses what exceeds the pool locally with 503 and x-envoy-overloaded (upstream_rq_pending_overflow)', async () => {
    // The synthesized pool: what Envoy is told, whatever the construct's defaults are.
    const rule = objects.find((o) => o.kind === 'DestinationRule' && o.metadata.name === 'payment')!;
    const { tcp, http } = (rule.spec as { trafficPolicy: { connectionPool: { tcp: { maxConnections: number }; http: { http2MaxRequests: number } } } })
      .trafficPolicy.connectionPool;
    expect(180).toBeGreaterThan(http.http2MaxRequests);
    await clearAll();
    for (const p of ['payment-0', 'payment-1']) await pod(p).setBehaviour({ delayMs: 1_200 });
    let results: Awaited<ReturnType<TestPod['call']>> = [];
    const stats = await delta(pod('order-0'), 'payment', async () => {
      results = await pod('order-0').call('payment', 'POST', '/charges', { n: 180 });
    });
    const overflowed = results.filter((r) => r.status === 503 && r.overloaded).length;
    const served = results.filter((r) => r.status === 200).length;
    // On a loaded machine some TLS connects to the payment sidecars outlast the 0.5 s connectTimeout (503 UF).
    const connectFailed = results.filter((r) => r.status === 503 && !r.overloaded && r.body.startsWith('upstream connect error')).length;
    const reachedApp = await reached('payment', 'POST /charges');
    console.error(
      `[mesh-policy] pool: 180 concurrent -> ${served} served, ${overflowed} overflowed, ${connectFailed} connect failures, ${reachedApp} reached the app; ` +
        `upstream_rq_pending_overflow +${stats.upstream_rq_pending_overflow}, upstream_cx_connect_fail +${stats.upstream_cx_connect_fail}, upstream_rq_pending_total +${stats.upstream_rq_pending_total}`,
    );
    expect(served + overflowed + connectFailed).toBe(180);
    // maxRequests (http2MaxRequests, for HTTP/1.1 too) admits at most that many of the 180 at once.
    expect(overflowed).toBeGreaterThanOrEqual(180 - http.http2MaxRequests);
    expect(stats.upstream_rq_pending_overflow).toBe(overflowed);
    expect(reachedApp).toBe(served);
    // At most maxConnections requests were with the apps at once (HTTP/1.1: one per connection).
    const inflight = (await pod('payment-0').counts()).maxInflight + (await pod('payment-1').counts()).maxInflight;
    expect(inflight).toBeLessThanOrEqual(tcp.maxConnections);
  });
});

describe('STRICT mTLS', () => {
  it('refuses plaintext from a pod without a sidecar at every service but the open JWKS port', async () => {
    const script =
      'const ips = JSON.parse(process.argv[1]); Promise.all(ips.map(([n, ip]) => fetch(`http://${ip}:8080/x`, { signal: AbortSignal.timeout(5000) }).then((r) => [n, r.status], (e) => [n, String(e.cause?.code ?? e.message)]))).then((r) => console.log(JSON.stringify(r)))';
    const targets = services.map((s) => [firstPod(s.name), pod(firstPod(s.name)).ip]);
    const strict = services.filter((s) => s.name !== jwksService).map((s) => firstPod(s.name));
    const { stdout } = await promisify(execFile)(
      'ip',
      ['netns', 'exec', network!.netnsOf('plain-0'), process.execPath, '-e', script, JSON.stringify(targets)],
      {
        encoding: 'utf8',
      },
    );
    const outcome = Object.fromEntries(JSON.parse(stdout) as [string, unknown][]);
    console.error(`[mesh-policy] plaintext from a pod without a sidecar: ${JSON.stringify(outcome)}`);
    expect(strict.length).toBe(services.length - 1);
    for (const n of strict) expect(typeof outcome[n], n).toBe('string');
    // The JWKS service's 8080 is PERMISSIVE (PeerAuthentication <service>-jwks, user-jwks): plaintext gets in, authorization still says no.
    expect(outcome[firstPod(jwksService)]).toBe(403);
    for (const n of strict) expect(await reached(pod(n).service, 'GET /x')).toBe(0);
  });
});

describe('authorization from the call graph', () => {
  it('allows exactly the call-graph edges for every ordered pair of services and every route of the callee', async () => {
    await clearAll();
    const mismatches: string[] = [];
    let checked = 0;
    for (const from of services) {
      for (const to of services) {
        if (from.name === to.name) continue;
        for (const route of to.routes) {
          const method = route.methods[0]!;
          const path = route.path.replace(/\{[^}]+\}/g, 't1');
          const onEdge = callGraph.some((e) => e.from === from.name && e.to === to.name && e.routes.includes(route));
          // The one rule without a source: the JWKS (edgeAuth.jwks) is public (the gateway's and istiod's JWT verification fetch it).
          const open = route === meshRoute(edgeAuth.jwks);
          const headers = route.keyHeader ? { [route.keyHeader]: `${from.name}-${route.name}` } : undefined;
          const [result] = await pod(firstPod(from.name)).call(to.name, method, path, { headers });
          const expected = onEdge || open ? 200 : 403;
          checked++;
          if (result!.status !== expected)
            mismatches.push(`${from.name} -> ${to.name} ${method} ${path}: ${result!.status} (expected ${expected}) ${result!.body}`);
        }
      }
    }
    console.error(`[mesh-policy] authorization: ${checked} (caller, route) pairs checked`);
    expect(mismatches).toEqual([]);
    // What was allowed reached the app; nothing denied did.
    expect(await reached('payment', 'POST /charges key')).toBe(1);
    expect(await reached('payment', 'GET /charges/t1')).toBe(0);
  });
});
