import { describe, expect, it } from 'vitest';
import { main, openLocal } from '../../chaos/main.js';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import type { ScenarioReport } from '../../chaos/report.js';
import { repoRoot } from '../../local/dev/paths.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `make chaos SCENARIO=all ARGS=--local` as a user runs it (the shop as processes on PGlite, no
// broker), with the phases shortened, and each verdict checked: what needs a mesh fails as
// expected, what the app does holds, what cannot run here says so, and nothing is an ERROR.

describe('make chaos SCENARIO=all ARGS=--local', () => {
  it('gives each scenario its right verdict (INCONCLUSIVE, never FAIL, when a baseline is unhealthy), restocks on PGlite, and exits 0 (or 3 when inconclusive)', async () => {
    const out: string[] = [];
    const json = join(mkdtempSync(join(tmpdir(), 'meshkit-chaos-all-')), 'reports.json');
    let restocked: string | undefined;
    const began = Date.now();
    const code = await main(['all', '--local', '--baseline', '3', '--during', '6', '--after', '3', '--json', json], {
      print: (line) => out.push(line),
      progress: () => undefined,
      repoRoot,
      open: async (args) => {
        const env: ChaosEnvironment = await openLocal(args.kafka, (line) => out.push(line));
        // The local restock works on PGlite: the product process is stopped, its database topped up, started again.
        restocked = await env.restock!(1_000);
        const products = (await (await fetch(`${env.baseUrl}/products?limit=100`)).json()) as { products: { available: number }[] };
        expect(products.products.every((p) => p.available >= 1_000)).toBe(true);
        return env;
      },
    });
    const seconds = Math.round((Date.now() - began) / 1000);
    const reports = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport[];
    const text = out.join('\n');
    console.log(`chaos all --local: ${seconds} s; ${reports.map((r) => `${r.scenario.number} ${r.verdict}`).join(', ')}`);
    expect(restocked).toMatch(/^UPDATE inventory SET available = GREATEST\(available, 1000\) in product's PGlite/);
    const verdict = (id: string) => reports.find((r) => r.scenario.id === id)!;
    const baselineHeld = (id: string) => verdict(id).checks.find((c) => c.baseline)?.outcome === 'pass';
    // What needs a mesh fails as expected when the baseline held; an unhealthy baseline (a busy machine) is INCONCLUSIVE, never FAIL.
    for (const id of ['faulty-payment-pod', 'overload']) expect(verdict(id).verdict, text).toBe(baselineHeld(id) ? 'EXPECTED FAIL' : 'INCONCLUSIVE');
    for (const id of ['slow-product', 'naive-retry']) expect(verdict(id).verdict, text).toBe(baselineHeld(id) ? 'PASS' : 'INCONCLUSIVE');
    for (const id of ['edge-fault', 'kafka-broker-kill', 'database-kill']) expect(verdict(id).verdict).toBe('NOT RUN');
    expect(reports.map((r) => r.scenario.id)).toEqual([
      'faulty-payment-pod',
      'slow-product',
      'overload',
      'edge-fault',
      'kafka-broker-kill',
      'database-kill',
      'naive-retry',
    ]);
    expect(reports.filter((r) => r.verdict === 'FAIL' || r.verdict === 'ERROR')).toEqual([]);
    const inconclusive = reports.filter((r) => r.verdict === 'INCONCLUSIVE').length;
    expect(code).toBe(inconclusive > 0 ? 3 : 0);
    expect(text).toContain('summary:');
    expect(text).toMatch(/\d passed, \d failed as expected without a mesh, 0 failed for real, \d inconclusive, 3 not run → exit [03]/);
    expect(text).toContain('legend:');
  }, 900_000);
});
