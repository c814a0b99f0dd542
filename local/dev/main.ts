/**
 * `make dev`: the whole shop as local processes (local/dev/shop.ts) with the local edge, a
 * stand-in for the Istio ingress gateway, in front, and Kafka (a broker of the run's own when
 * Java is there). Prints the URLs; stops on Ctrl-C, SIGTERM or SIGHUP (to it or to make) and
 * leaves no process, no port and the logs.
 *
 * Usage: node --import tsx local/dev/main.ts [--source] [--edge-port <port>] [--data-dir <dir>]
 *   --source         run the services from TypeScript through tsx instead of their bundles
 *   --edge-port      port of the local edge on 127.0.0.1 (0: any free port)   [EDGE_PORT, 8080]
 *   --data-dir       keep logs and PGlite data here, so the next start is faster
 *                    [default: a fresh temp directory; its logs are kept, the rest removed on stop]
 * Environment:
 *   KAFKA_BROKERS            host:port,... of a Kafka of your own, or `off`
 *                            (default: a broker of the run's own when Java 17+ is found)
 *   DATABASE_URL_<SERVICE>   a PostgreSQL database of that service's own, e.g. DATABASE_URL_ORDER
 *                            (default: an embedded PGlite per service)
 *   LOG_LEVEL                of every service (default: info); logs go to <run dir>/<service>.log
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readyBanner, stoppedLine } from './banner.js';
import { devKafka, type DevKafka } from './kafka.js';
import { keepOnlyLogs, startLocalShop, type LocalShop } from './shop.js';
import { onStopSignals, type SignalSource, type StopSignal } from './signals.js';
import { SERVICE_NAMES } from './wiring.js';

const usage = 'usage: node --import tsx local/dev/main.ts [--source] [--edge-port <port>] [--data-dir <dir>]';

// A closed terminal (SIGHUP) makes every write fail with EIO or EPIPE: the stop must go on regardless.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
const say = (text: string) => {
  try {
    process.stdout.write(`${text}\n`);
  } catch {
    // no terminal any more
  }
};

function fail(message: string, code: number): never {
  try {
    process.stderr.write(`dev: ${message}\n`);
  } catch {
    // no terminal any more
  }
  process.exit(code);
}

function options() {
  try {
    return parseArgs({
      options: { source: { type: 'boolean', default: false }, 'edge-port': { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (err) {
    return fail(`${err instanceof Error ? err.message : String(err)}\n${usage}`, 64);
  }
}

async function main(): Promise<void> {
  const args = options();
  if (args.help) return say(usage);
  const rawPort = args['edge-port'] ?? process.env['EDGE_PORT'] ?? '8080';
  const edgePort = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || edgePort > 65535) fail(`the edge port ('${rawPort}', EDGE_PORT or --edge-port) must be an integer from 0 to 65535`, 64);
  const databaseUrls = new Map(SERVICE_NAMES.map((name) => [name, process.env[`DATABASE_URL_${name.toUpperCase()}`]?.trim() || undefined]));
  const logLevel = process.env['LOG_LEVEL'];
  // The run directory is made here, so its logs can be named even when the start fails.
  const runDir = args['data-dir'] ?? (await mkdtemp(join(tmpdir(), 'meshkit-dev-')));

  const began = performance.now();
  // Filled in as the start goes on; the signal handler stops what is there.
  const state: { shop?: LocalShop; kafka?: DevKafka } = {};
  let stopping = false;
  let firstSignalAt: number | undefined;

  // Without --data-dir the bundles and PGlite data go (hundreds of MB); the logs stay.
  const tidy = () => (args['data-dir'] ? Promise.resolve() : keepOnlyLogs(runDir));
  const stopAll = async () => {
    await state.shop?.stop();
    await state.kafka?.stop(runDir);
    await tidy();
  };
  const onSignal = (signal: StopSignal, source: SignalSource) => {
    // make relays a terminal's Ctrl-C it also received; one Ctrl-C may also be seen twice within a second.
    const again = stopping && source === 'self' && firstSignalAt !== undefined && performance.now() - firstSignalAt > 1000;
    if (stopping && !again) return;
    if (again) {
      say(`\n${signal} again: killing the services`);
      const running = state.shop;
      const kills = running
        ? SERVICE_NAMES.map((name) =>
            running
              .service(name)
              .kill('SIGKILL')
              .catch(() => undefined),
          )
        : [];
      void Promise.all(kills).then(() => {
        say(stoppedLine(runDir));
        process.exit(130);
      });
      return;
    }
    stopping = true;
    firstSignalAt = performance.now();
    say(`\n${signal}${source === 'parent' ? ' (to make)' : ''}: stopping the shop`);
    // During the start there is nothing to stop gracefully yet: the exit hooks kill what is starting.
    if (!state.shop) {
      void Promise.allSettled([state.kafka?.stop(runDir)])
        .then(tidy)
        .finally(() => {
          say(stoppedLine(runDir));
          process.exit(130);
        });
      return;
    }
    stopAll().then(
      () => {
        say(stoppedLine(runDir));
        process.exit(0);
      },
      (err: unknown) => fail(`stopping failed: ${err instanceof Error ? err.message : String(err)}; logs in ${runDir}`, 1),
    );
  };
  onStopSignals(onSignal);

  say(`starting the shop (${args.source ? 'from source' : 'bundles'}, run directory ${runDir})...`);
  const kafka = (state.kafka = await devKafka(process.env));
  if (stopping) return;
  let shop: LocalShop;
  try {
    shop = state.shop = await startLocalShop({
      runtime: args.source ? 'source' : 'bundle',
      databaseUrlFor: (name) => databaseUrls.get(name),
      ...(kafka.brokers.length > 0 ? { kafkaBrokers: kafka.brokers } : {}),
      edgePort,
      runDir,
      // Interactive, and a first start on fresh PGlite directories is slow on a busy laptop.
      readyTimeoutMs: 180_000,
      edgeStatus: () => ({ kafka: kafka.brokers.length > 0 ? { brokers: kafka.brokers } : { brokers: [], missing: kafka.missing } }),
      ...(logLevel ? { env: Object.fromEntries(SERVICE_NAMES.map((name) => [name, { LOG_LEVEL: logLevel }])) } : {}),
    });
  } catch (err) {
    await kafka.stop(runDir);
    await tidy();
    fail(`${err instanceof Error ? err.message : String(err)}\nlogs in ${runDir}`, 1);
  }
  if (stopping) return;
  const seconds = ((performance.now() - began) / 1000).toFixed(1);
  say(readyBanner({ shop, seconds, kafka: kafka.description, onPostgres: (name) => databaseUrls.get(name) !== undefined }).join('\n'));
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1));
