/**
 * Synthesizes the chaos scenarios' mesh resources (chaos/resources.ts) into dist/chaos/:
 * `edge-faults.yaml` (scenario 4) and `naive-retry.yaml` (scenario 7). Run by `make chaos`
 * after `make synth`; `npm run chaos -- synth` runs it alone.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildPlatform } from '../charts/platform-app.js';
import { buildChaosApp } from './resources.js';

export function synthChaos(outdir: string): string[] {
  const { shop } = buildPlatform();
  const { app } = buildChaosApp(shop, outdir);
  app.synth();
  return readdirSync(outdir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(outdir, f));
}
