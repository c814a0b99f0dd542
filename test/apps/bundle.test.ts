import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildService, SERVICES } from '../../scripts/build-services.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function freePort(): Promise<number> {
  const server = createServer().listen(0);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  return port;
}

// The bundles are what the images run: each must start on its own (no node_modules, PGlite
// assets beside it), become ready, answer with the error shape and stop cleanly on SIGTERM.
describe('service bundles', () => {
  beforeAll(async () => {
    for (const service of SERVICES) await buildService(service);
  }, 120_000);

  for (const service of SERVICES) {
    it(`${service}: node apps/${service}/dist/main.js becomes ready and exits 0 on SIGTERM`, async () => {
      const [port, adminPort] = [await freePort(), await freePort()];
      const env = {
        PATH: process.env['PATH'],
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
        HOST: '127.0.0.1',
        PGLITE_DATA_DIR: 'memory://',
        SHUTDOWN_DELAY_MS: '0',
        USER_URL: 'http://127.0.0.1:9',
        PRODUCT_URL: 'http://127.0.0.1:9',
        PAYMENT_URL: 'http://127.0.0.1:9',
      };
      // Run a copy outside the repository, so nothing can be resolved from node_modules: as in the image.
      const dir = mkdtempSync(join(tmpdir(), `meshkit-bundle-${service}-`));
      cpSync(join(root, 'apps', service, 'dist'), dir, { recursive: true });
      const child = spawn(process.execPath, [join(dir, 'main.js')], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      try {
        const deadline = Date.now() + 30_000;
        let ready = false;
        while (!ready && Date.now() < deadline && child.exitCode === null) {
          ready = await fetch(`http://127.0.0.1:${adminPort}/health/ready`).then(
            (r) => r.status === 200,
            () => false,
          );
          if (!ready) await new Promise((r) => setTimeout(r, 50));
        }
        expect(ready, output).toBe(true);
        const res = await fetch(`http://127.0.0.1:${port}/definitely-not-a-route`);
        expect(res.status).toBe(404);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
        expect(output).toContain('"message":"service ready"');
      } finally {
        child.kill('SIGTERM');
      }
      const [code] = (await once(child, 'exit')) as [number | null];
      rmSync(dir, { recursive: true, force: true });
      expect(code, output).toBe(0);
    }, 60_000);
  }
});
