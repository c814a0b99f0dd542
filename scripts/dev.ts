/**
 * `make dev`: the whole shop as local processes (apps/local-shop.ts) with the local edge,
 * a stand-in for the Istio ingress gateway, in front. Prints the URLs and stops on Ctrl-C.
 *
 * Usage: tsx scripts/dev.ts [--source] [--edge-port <port>] [--data-dir <dir>]
 *   --source         run the services from TypeScript through tsx instead of their bundles
 *   --edge-port      port of the local edge on 127.0.0.1 (0: any free port)   [EDGE_PORT, 8080]
 *   --data-dir       keep logs and PGlite data here, so the next start is faster
 *                    [default: a fresh temp directory, removed on stop]
 * Environment:
 *   KAFKA_BROKERS            host:port,... of a Kafka (default: off, events wait in the outbox)
 *   DATABASE_URL_<SERVICE>   a PostgreSQL database of that service's own, e.g. DATABASE_URL_ORDER
 *                            (default: an embedded PGlite per service)
 *   LOG_LEVEL                of every service (default: info); logs go to <run dir>/<service>.log
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SERVICE_NAMES, startLocalShop, type LocalShop } from '../apps/local-shop.js';

const usage = 'usage: tsx scripts/dev.ts [--source] [--edge-port <port>] [--data-dir <dir>]';

function fail(message: string, code: number): never {
  process.stderr.write(`dev: ${message}\n`);
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
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const rawPort = args['edge-port'] ?? process.env['EDGE_PORT'] ?? '8080';
  const edgePort = Number(rawPort);
  if (!/^\d+$/.test(rawPort) || edgePort > 65535) fail(`the edge port ('${rawPort}') must be an integer from 0 to 65535`, 64);
  const kafkaBrokers = (process.env['KAFKA_BROKERS'] ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  const databaseUrls = new Map(SERVICE_NAMES.map((name) => [name, process.env[`DATABASE_URL_${name.toUpperCase()}`]?.trim() || undefined]));
  const logLevel = process.env['LOG_LEVEL'];

  const began = performance.now();
  let shop: LocalShop | undefined;
  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice: from the terminal and relayed by tsx's own process.
    if (firstSignalAt !== undefined && performance.now() - firstSignalAt < 1000) return;
    const again = firstSignalAt !== undefined;
    firstSignalAt ??= performance.now();
    if (again || !shop) {
      // A second Ctrl-C, or one during the start: do not wait (our exit hook SIGKILLs what is still starting).
      process.stdout.write(`\n${signal}${shop ? ' again' : ' during the start'}: killing the services\n`);
      const running = shop;
      const kills = running
        ? SERVICE_NAMES.map((name) =>
            running
              .service(name)
              .kill('SIGKILL')
              .catch(() => undefined),
          )
        : [];
      void Promise.all(kills).then(() => {
        if (running && !args['data-dir']) rmSync(running.runDir, { recursive: true, force: true });
        process.exit(130);
      });
      return;
    }
    process.stdout.write(`\n${signal}: stopping the shop\n`);
    shop.stop().then(
      () => {
        process.stdout.write('stopped\n');
        process.exit(0);
      },
      (err: unknown) => fail(`stopping failed: ${err instanceof Error ? err.message : String(err)}`, 1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  process.stdout.write(
    `starting the shop (${args.source ? 'from source' : 'bundles'}, Kafka ${kafkaBrokers.length > 0 ? kafkaBrokers.join(',') : 'off'})...\n`,
  );
  try {
    shop = await startLocalShop({
      runtime: args.source ? 'source' : 'bundle',
      databaseUrlFor: (name) => databaseUrls.get(name),
      ...(kafkaBrokers.length > 0 ? { kafkaBrokers } : {}),
      edgePort,
      ...(args['data-dir'] ? { runDir: args['data-dir'] } : {}),
      ...(logLevel ? { env: Object.fromEntries(SERVICE_NAMES.map((name) => [name, { LOG_LEVEL: logLevel }])) } : {}),
    });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err), 1);
  }
  const seconds = ((performance.now() - began) / 1000).toFixed(1);
  const lines = [
    `meshkit shop ready in ${seconds} s; Kafka: ${kafkaBrokers.length > 0 ? kafkaBrokers.join(',') : 'off (events wait in the outbox)'}`,
    `  ${'edge'.padEnd(13)} ${shop.edgeUrl}   the public API; JWTs checked as at the ingress gateway`,
    ...SERVICE_NAMES.map((name) => {
      const s = shop!.service(name);
      const database = databaseUrls.get(name) ? 'PostgreSQL' : 'PGlite';
      return `  ${name.padEnd(13)} ${s.url}  admin ${s.adminUrl}  pid ${s.pid}  ready in ${s.startupMs} ms  ${database}`;
    }),
    `  ${'logs'.padEnd(13)} ${shop.runDir}/<service>.log`,
    `Try: curl ${shop.edgeUrl}/products   or   MESHKIT_URL=${shop.edgeUrl} make smoke`,
    'Ctrl-C stops the shop.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1));
