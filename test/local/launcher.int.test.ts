import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { buildPlatform } from '../../charts/platform-app.js';
import type { ServiceName } from '../../charts/platform.js';
import { platformEnv, SERVICE_NAMES, startLocalShop } from '../../local/dev/index.js';
import { createDatabase } from '../../infra/postgres.js';
import { request } from '../apps/support.js';

// How the launcher wires, fails and is driven by `make dev` (local/dev/main.ts).

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { url: postgresUrl } = inject('postgres');
const run = randomUUID().replaceAll('-', '').slice(0, 10);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Collects the pids the launcher reports in its log lines (`[local-shop] <name> runs as pid <n>`). */
function pidRecorder() {
  const pids = new Map<ServiceName, number[]>();
  return {
    pids,
    onLog: (service: ServiceName, line: string) => {
      const pid = /^\[local-shop\] \w+ runs as pid (\d+)$/.exec(line)?.[1];
      if (pid) pids.set(service, [...(pids.get(service) ?? []), Number(pid)]);
    },
  };
}

describe('wiring', () => {
  it('gives each service exactly the environment the synthesized chart gives its pods (ports and database aside)', () => {
    const { shop, kafka } = buildPlatform();
    const urls = Object.fromEntries(SERVICE_NAMES.map((name) => [name, shop.service(name).url])) as Record<ServiceName, string>;
    const launcherOwned = new Set(['PORT', 'ADMIN_PORT', 'DATABASE_URL', 'DATABASE_USER', 'DATABASE_PASSWORD']);
    const manifests = shop.toJson() as Array<{
      kind: string;
      metadata: { name: string };
      spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
    }>;
    for (const name of SERVICE_NAMES) {
      const deployment = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === name)!;
      const env = Object.fromEntries(
        (deployment.spec.template.spec.containers[0]!.env ?? []).filter((e) => !launcherOwned.has(e.name)).map((e) => [e.name, e.value ?? '(from a secret)']),
      );
      expect(platformEnv(name, { urls, kafkaBrokers: [kafka.cluster.bootstrapServers] }), name).toEqual(env);
    }
  });

  it('leaves every KAFKA_* variable unset without brokers and keeps the rest', () => {
    const urls = Object.fromEntries(SERVICE_NAMES.map((name) => [name, `http://127.0.0.1:1${SERVICE_NAMES.indexOf(name)}`])) as Record<ServiceName, string>;
    const order = platformEnv('order', { urls });
    expect(Object.keys(order).filter((k) => k.startsWith('KAFKA_'))).toEqual([]);
    expect(order).toMatchObject({ USER_URL: urls.user, PRODUCT_URL: urls.product, PAYMENT_URL: urls.payment, HTTP_CLIENT_TIMEOUT_MS: '2000' });
  });
});

describe('from source', () => {
  it("runs each service's TypeScript through tsx, on its own PostgreSQL database", async () => {
    const shop = await startLocalShop({
      runtime: 'source',
      databaseUrlFor: (service) => createDatabase(postgresUrl, `source_${service}_${run}`),
      edgePort: false,
    });
    try {
      expect(shop.edgeUrl).toBeUndefined();
      for (const name of SERVICE_NAMES) {
        expect(
          shop
            .service(name)
            .logs(100)
            .some((l) => l.includes(`--import tsx ${join(root, 'apps', name, 'main.ts')}`)),
        ).toBe(true);
        expect((await request(shop.adminUrls[name], 'GET', '/health/ready')).body.checks).toEqual({ database: 'ok' });
      }
      const products = await request(shop.urls.product, 'GET', '/products');
      expect(products.body.products).toHaveLength(6);
      console.log(`start-to-ready from source (all five at once): ${SERVICE_NAMES.map((n) => `${n} ${shop.service(n).startupMs} ms`).join(', ')}`);
    } finally {
      await shop.stop();
    }
    expect(existsSync(shop.runDir)).toBe(false);
  });
});

describe('start failures', () => {
  it('names the service that exits before it is ready, quotes its log, and leaves no process or run directory', async () => {
    const recorder = pidRecorder();
    let runDir = '';
    const started = startLocalShop({
      databaseUrlFor: async (service) => {
        if (service === 'product') {
          const missing = new URL(postgresUrl);
          missing.pathname = `/no_such_database_${run}`;
          return missing.toString();
        }
        return createDatabase(postgresUrl, `launcher_${service}_${run}`);
      },
      onLog: (service, line) => {
        recorder.onLog(service, line);
        runDir ||= /^\[local-shop\] starting \w+: \S+ (\S+)\/bundles\//.exec(line)?.[1] ?? '';
      },
    });
    const error = await started.then(
      () => new Error('started'),
      (err: Error) => err,
    );
    expect(error.message).toMatch(/^the local shop did not start:\nproduct: exited with code 1 before it was ready; its last log lines:\n/);
    expect(error.message).toContain(`database "no_such_database_${run}" does not exist`);
    const pids = [...recorder.pids.values()].flat();
    expect(pids).toHaveLength(5);
    expect(pids.filter(alive)).toEqual([]);
    expect(runDir).not.toBe('');
    expect(existsSync(runDir)).toBe(false);
  });

  it('gives up on a service that is not ready in time, with its last answer, and kills it', async () => {
    const recorder = pidRecorder();
    const error = await startLocalShop({ readyTimeoutMs: 1, onLog: recorder.onLog, edgePort: false }).then(
      () => new Error('started'),
      (err: Error) => err,
    );
    for (const name of SERVICE_NAMES)
      expect(error.message).toMatch(
        new RegExp(`^${name}: not ready after 1 ms \\(last answer of http://127\\.0\\.0\\.1:\\d+/health/ready: .+\\); its last log lines:$`, 'm'),
      );
    const pids = [...recorder.pids.values()].flat();
    expect(pids).toHaveLength(5);
    expect(pids.filter(alive)).toEqual([]);
  });

  it('refuses a taken edge port before starting any service', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const port = (blocker.address() as { port: number }).port;
    const recorder = pidRecorder();
    try {
      const error = await startLocalShop({ edgePort: port, onLog: recorder.onLog }).then(
        () => new Error('started'),
        (err: Error) => err,
      );
      expect(error.message).toBe(
        `the local edge cannot listen on 127.0.0.1:${port}: the port is taken (set EDGE_PORT to another port, or EDGE_PORT=0 for any free port)`,
      );
      expect(recorder.pids.size).toBe(0);
    } finally {
      blocker.close();
    }
  });
});
