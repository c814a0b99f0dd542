/**
 * A child process for the signal tests: starts the two-app manifests (fixtures.ts) on the
 * apiserver named by MESHKIT_TEST_KUBE (a JSON KubeConnection) in namespace MESHKIT_TEST_NS,
 * stops on signals as `make mesh` does (local/mesh/signals.ts), and prints one JSON line with
 * the network prefix and the container pids once every pod is Ready.
 */
import type { KubeConnection } from '../../infra/kube-client.js';
import { startMeshShop } from '../../local/mesh/mesh-shop.js';
import { stopOnSignals } from '../../local/mesh/signals.js';
import { twoAppManifests } from './fixtures.js';

const abort = new AbortController();
const starting = startMeshShop({
  kube: JSON.parse(process.env.MESHKIT_TEST_KUBE!) as KubeConnection,
  manifests: twoAppManifests(process.env.MESHKIT_TEST_NS!),
  mesh: false,
  readyTimeoutMs: 60_000,
  signal: abort.signal,
});
stopOnSignals(async () => {
  abort.abort();
  await (await starting.catch(() => undefined))?.stop();
});
const shop = await starting;
const pids = shop.pods().flatMap((p) => p.containers.map((c) => c.process?.pid));
console.log(JSON.stringify({ prefix: shop.network.prefix, pids }));
setInterval(() => undefined, 60_000);
