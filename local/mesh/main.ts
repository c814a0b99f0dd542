/**
 * `make mesh`: the shop from dist/ on this machine as pods in network namespaces, printed
 * with where each runs, then a live status line until Ctrl-C, SIGTERM or SIGHUP, which
 * leave nothing behind. Not Linux or not root: a message and exit 1.
 */
import { MeshPreflightError, preflight } from './host.js';
import { describePods, startMeshShop } from './mesh-shop.js';
import { stopOnSignals } from './signals.js';

const stamp = () => new Date().toISOString().slice(11, 19);
const log = (line: string) => console.error(`[mesh ${stamp()}] ${line}`);

async function main(): Promise<void> {
  try {
    preflight();
  } catch (error) {
    if (error instanceof MeshPreflightError) {
      console.error(`make mesh: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
  // `--check`: the machine can run the mesh (make mesh asks before synthesizing and building).
  if (process.argv.includes('--check')) return;
  const started = Date.now();
  const abort = new AbortController();
  const starting = startMeshShop({ log, signal: abort.signal });
  // A signal during start-up aborts it: startMeshShop undoes its own steps before rejecting.
  stopOnSignals(async () => {
    abort.abort();
    const running = await starting.catch(() => undefined);
    await running?.stop();
  }, log);
  const shop = await starting;
  console.log(`\n${describePods(shop.pods())}\n`);
  console.log(`pod network ${shop.network.cidr} on bridge ${shop.network.bridge}; apiserver ${shop.kube.connection.url}; logs in ${shop.runDir}/logs`);
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Ctrl-C stops everything.`);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const pods = shop.pods();
    const ready = pods.filter((p) => p.ready).length;
    const restarts = pods.reduce((n, p) => n + p.containers.reduce((m, c) => m + c.restartCount, 0), 0);
    const notReady = pods.filter((p) => !p.ready).map((p) => p.name);
    log(`${ready}/${pods.length} pods ready, ${restarts} restarts${notReady.length > 0 ? `; not ready: ${notReady.join(', ')}` : ''}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
