import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { cachePath } from '../../infra/cache.js';
import { repoRoot } from './results.js';

/**
 * Where the benchmarks' builds go: the repository's git-ignored cache (.cache/bench,
 * or $MESHKIT_CACHE/bench), inside the repository so bare imports resolve from node_modules/.
 */
export const buildDir = cachePath('bench');

/**
 * Transpiles a TypeScript entry and the repository's own modules it imports
 * (including the generated CRD types under imports/) into one ESM file; npm
 * packages stay external and load from node_modules as they do under tsx.
 */
export async function precompile(entry: string, outName: string): Promise<string> {
  mkdirSync(buildDir, { recursive: true });
  const outfile = join(buildDir, outName);
  await build({
    entryPoints: [join(repoRoot, entry)],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: false,
    logLevel: 'warning',
  });
  return outfile;
}
