import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { chaosResources } from '../../chaos/resources.js';
import { synthChaos } from '../../chaos/synth.js';
import type { KubeObject } from '../../infra/kube-client.js';
import type { RunningProxy } from '../../local/mesh/kubelet.js';
import type { MeshShop } from '../../local/mesh/mesh-shop.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** ln P(X = k) for X ~ Binomial(n, p). */
function logPmf(n: number, k: number, p: number): number {
  let logChoose = 0;
  for (let i = 1; i <= k; i += 1) logChoose += Math.log(n - k + i) - Math.log(i);
  return logChoose + k * Math.log(p) + (n - k) * Math.log(1 - p);
}

/** The narrowest [low, high] with P(X < low) ≤ alpha/2 and P(X > high) ≤ alpha/2 for X ~ Binomial(n, p). */
export function binomialBounds(n: number, p: number, alpha: number): [number, number] {
  const pmf = Array.from({ length: n + 1 }, (_, k) => Math.exp(logPmf(n, k, p)));
  let low = 0;
  let below = pmf[0]!; // P(X <= low)
  while (below <= alpha / 2) below += pmf[++low]!;
  let high = n;
  let above = pmf[n]!; // P(X >= high)
  while (above <= alpha / 2) above += pmf[--high]!;
  return [low, high];
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

/** GET through the gateway with a chosen Host header (fetch does not let a caller set Host). */
function get(gatewayUrl: string, path: string, host?: string): Promise<Answer> {
  const url = new URL(gatewayUrl);
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers: host ? { host } : {}, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, ms: performance.now() - began }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} (Host ${host}) got no answer in 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** `n` GETs, `concurrency` at a time. */
async function getMany(n: number, concurrency: number, one: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  let started = 0;
  const worker = async () => {
    while (started < n) {
      started += 1;
      answers.push(await one());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

/** Sum of the gateway Envoy's counters whose name ends with `suffix`. */
async function counter(gateway: RunningProxy, suffix: string): Promise<number> {
  const text = await gateway.admin(`/stats?filter=${encodeURIComponent(`${suffix.replaceAll('.', '\\.')}$`)}`);
  return text
    .split('\n')
    .filter((line) => line.includes(': '))
    .reduce((sum, line) => sum + Number(line.split(': ')[1]), 0);
}

interface EnvoyRoute {
  name: string;
  route?: { timeout?: string; retry_policy?: { num_retries?: number; retry_on?: string } };
  typed_per_filter_config?: Record<string, { abort?: { http_status?: number; percentage?: { numerator?: number; denominator?: string } } }>;
}

/** The HTTP routes named `name` in the gateway's route configuration (config_dump). */
async function envoyRoutes(gateway: RunningProxy, name: string): Promise<EnvoyRoute[]> {
  const dump = JSON.parse(await gateway.admin('/config_dump?resource=dynamic_route_configs')) as {
    configs: { route_config?: { virtual_hosts?: { routes?: EnvoyRoute[] }[] } }[];
  };
  return dump.configs.flatMap((c) => c.route_config?.virtual_hosts ?? []).flatMap((vh) => (vh.routes ?? []).filter((r) => r.name === name));
}

/**
 * Istio fault injection at the edge, executed by the gateway's Envoy: the chaos scenarios'
 * EdgeFaultInjection exactly as `npm run chaos -- synth` writes dist/chaos/edge-faults.yaml,
 * applied to the live apiserver and deleted afterwards.
 */
export function edgeFaultTests(shop: () => MeshShop): void {
  describe('Istio fault injection at the edge (dist/chaos/edge-faults.yaml)', () => {
    const { host, abort, delay } = chaosResources.edgeFaults;
    let objects: KubeObject[];
    // The faulted copy of GET /products, by the name the construct gave it in the VirtualService.
    let abortRoute: string;
    let gateway: RunningProxy;
    const inEnvoy = async (present: boolean) => {
      const deadline = Date.now() + 60_000;
      while ((await envoyRoutes(gateway, abortRoute)).length > 0 !== present) {
        if (Date.now() > deadline) throw new Error(`the gateway's routes ${present ? 'still lack' : 'still hold'} ${abortRoute} after 60 s`);
        await sleep(500);
      }
    };

    beforeAll(async () => {
      const outdir = mkdtempSync(join(tmpdir(), 'meshkit-chaos-'));
      try {
        const file = synthChaos(outdir).find((f) => f.endsWith(`${chaosResources.edgeFaults.chart}.yaml`))!;
        objects = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as KubeObject);
        const routes = objects.flatMap((o) => (o.spec as { http?: { name: string; fault?: { abort?: unknown } }[] }).http ?? []);
        abortRoute = routes.find((r) => r.fault?.abort)!.name;
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
      gateway = shop()
        .pods()
        .find((p) => p.proxy)!.proxy!;
      await shop().kube.applyServerSide(objects);
      await inEnvoy(true);
    }, 90_000);

    afterAll(async () => {
      for (const o of objects ?? []) await shop().kube.delete(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
    });

    it(`aborts ${abort.percent}% of GET /products with ${abort.httpStatus}, each abort answered once (not retried) by the fault filter`, async () => {
      const n = 200;
      const [low, high] = binomialBounds(n, abort.percent / 100, 1e-6);
      const injectedBefore = await counter(gateway, 'fault.aborts_injected');
      const answers = await getMany(n, 8, () => get(shop().gatewayUrl!, '/products', host));
      const aborted = answers.filter((a) => a.status === abort.httpStatus);
      console.error(
        `fault abort: ${aborted.length}/${n} answered ${abort.httpStatus}; binomial(${n}, ${abort.percent / 100}) bounds at 1e-6: [${low}, ${high}]`,
      );
      expect(answers.filter((a) => a.status !== abort.httpStatus && a.status !== 200)).toEqual([]);
      expect(aborted.length).toBeGreaterThanOrEqual(low);
      expect(aborted.length).toBeLessThanOrEqual(high);
      expect(aborted.every((a) => a.body === 'fault filter abort')).toBe(true);
      // Were an abort retried (2 retries on gateway-error), the share seen would be 12.5%, far below `low`.
      expect(await counter(gateway, 'fault.aborts_injected')).toBe(injectedBefore + aborted.length);
    });

    it("keeps the route's retry policy and timeout in Envoy: Istio's 'no retries when faults are enabled' holds only because the fault filter answers before the router", async () => {
      const [route] = await envoyRoutes(gateway, abortRoute);
      const fault = route!.typed_per_filter_config?.['envoy.filters.http.fault'];
      expect(fault?.abort).toMatchObject({ http_status: abort.httpStatus, percentage: { numerator: abort.percent * 10_000, denominator: 'MILLION' } });
      expect(route!.route?.retry_policy?.num_retries).toBe(2);
      expect(route!.route?.timeout).toBe('2s');
    });

    it(`delays GET /products/{id} by ${delay.fixedDelay.toSeconds()} s, before the router: the route's 2 s timeout does not cut it`, async () => {
      const delayedBefore = await counter(gateway, 'fault.delays_injected');
      const answers = await Promise.all([1, 2, 3].map(() => get(shop().gatewayUrl!, '/products/espresso-beans', host)));
      console.error(`fault delay: ${answers.map((a) => `${a.status} in ${Math.round(a.ms)} ms`).join(', ')}`);
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.ms).toBeGreaterThanOrEqual(delay.fixedDelay.toMilliseconds());
      }
      expect(await counter(gateway, 'fault.delays_injected')).toBe(delayedBefore + 3);
    });

    it('leaves the shipped host untouched: GET /products and /products/{id} without the fault host all answer 200 at once', async () => {
      const list = await getMany(60, 6, () => get(shop().gatewayUrl!, '/products'));
      expect(list.map((a) => a.status)).toEqual(list.map(() => 200));
      const one = await get(shop().gatewayUrl!, '/products/espresso-beans');
      expect(one.status).toBe(200);
      expect(one.ms).toBeLessThan(delay.fixedDelay.toMilliseconds());
    });

    it('deleting the VirtualService removes the fault: the fault host then falls through to the shipped routes', async () => {
      for (const o of objects) await shop().kube.delete(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
      await inEnvoy(false);
      const answers = await getMany(40, 4, () => get(shop().gatewayUrl!, '/products', host));
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    });
  });
}
