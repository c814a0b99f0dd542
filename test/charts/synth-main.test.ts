import { App, Chart, Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { synthMain } from '../../charts/main.js';
import { MeshedService, Retry, Route } from '../../constructs/index.js';

// `npm run synth` / `make synth` when a construct refuses its props: the message alone, exit 1.

function brokenApp(): App {
  const app = new App({ outdir: '/nonexistent/never-written' });
  const chart = new Chart(app, 'inventory', { namespace: 'warehouse' });
  new MeshedService(chart, 'inventory', {
    image: 'example/inventory:1.0',
    routes: [Route.read('/items/{sku}', { timeout: Duration.seconds(2), retry: Retry.onGatewayErrors({ attempts: 3, perTryTimeout: Duration.seconds(1) }) })],
  });
  return app;
}

describe('synth entry point', () => {
  it('prints a construct validation error alone (prop, value, fix), without a stack trace, and exits 1', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await synthMain(brokenApp, { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect(code).toBe(1);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^synth failed: .*'perTryTimeout' \(1s\).*'timeout' \(2s\).*: raise timeout or lower attempts/s);
    expect(err.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('adds the stack only when asked (MESHKIT_DEBUG=1)', async () => {
    const err: string[] = [];
    expect(await synthMain(brokenApp, { out: () => undefined, err: (l) => err.push(l), debug: true })).toBe(1);
    expect(err[1]).toMatch(/\n\s+at /);
  });
});
