/**
 * Synthesizes the chaos scenarios' mesh resources (chaos/resources.ts) into dist/chaos/:
 * `edge-faults.yaml` (scenario 4) and `naive-retry.yaml` (scenario 7). Run by `make chaos`
 * after `make synth`; `npm run chaos -- synth` runs it alone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPlatform } from '../charts/platform-app.js';
import type { KubeObject } from '../manifests/kube-object.js';
import { parseObjects } from '../manifests/parse.js';
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

/** One synthesized chaos resource file (`<resourcesDir>/<name>.yaml`) as objects, and their names for a report line. */
export function loadChaosResources(resourcesDir: string, name: string): { objects: KubeObject[]; names: string } {
  const file = join(resourcesDir, `${name}.yaml`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: run \`make chaos\` (it synthesizes dist/chaos/) or \`npm run chaos -- synth\``);
  }
  const objects = parseObjects(text, file);
  return { objects, names: objects.map((o) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`).join(', ') };
}
