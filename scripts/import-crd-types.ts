/**
 * Generates typed cdk8s constructs (imports/, git-ignored) from the upstream
 * CRDs that the project obtains from registry artifacts: Istio's from the Go
 * module istio.io/api, Strimzi's from its own CRD generator on Maven Central.
 * Nothing here is hand-copied; re-running is cheap and skips up-to-date output.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../infra/cache.js';
import { ComponentError } from '../infra/component-error.js';
import { ensureIstioCrds } from '../infra/upstream/istio-crds.js';
import { ensureStrimziCrds } from '../infra/upstream/strimzi-crds.js';

const outdir = join(repoRoot, 'imports');
const stampFile = join(outdir, '.sources');

function cdk8sImport(module: string, crdFile: string): void {
  const cli = join(repoRoot, 'node_modules', '.bin', 'cdk8s');
  const args = ['import', `${module}:=${crdFile}`, '--language', 'typescript', '--output', outdir, '--no-save', '--no-check-upgrade'];
  const result = spawnSync(cli, args, { cwd: repoRoot, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`cdk8s import of ${crdFile} failed:\n${result.stdout}\n${result.stderr}`);
  }
}

export function importCrdTypes(): void {
  const sources = { istio: ensureIstioCrds(), strimzi: ensureStrimziCrds() };
  const stamp = JSON.stringify(sources);
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  mkdirSync(outdir, { recursive: true });
  cdk8sImport('istio', sources.istio);
  // One combined file keeps the Strimzi kinds in one module (imports/strimzi.ts).
  const combined = join(outdir, '.strimzi-crds.yaml');
  writeFileSync(combined, sources.strimzi.map((file) => readFileSync(file, 'utf8')).join('\n---\n'));
  cdk8sImport('strimzi', combined);
  writeFileSync(stampFile, stamp);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    importCrdTypes();
    console.log(`CRD types generated in ${outdir}`);
  } catch (error) {
    // A component that cannot be provisioned says which and how to fix it; a stack trace adds nothing.
    if (!(error instanceof ComponentError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}
