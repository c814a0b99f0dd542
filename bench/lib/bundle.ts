import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { buildDir } from './precompile.js';
import { repoRoot } from './results.js';

/**
 * The esbuild options of scripts/build-services.ts (ESM for Node 20, minified,
 * a require shim for CommonJS dependencies, pg-native external), so what the
 * benchmarks run is what the images run. Output goes under .cache/bench/, never
 * to apps/<name>/dist. Keep in step with scripts/build-services.ts.
 */
const BANNER = [
  "import { createRequire as __meshkitCreateRequire } from 'node:module';",
  "import { fileURLToPath as __meshkitFileURLToPath } from 'node:url';",
  'const require = __meshkitCreateRequire(import.meta.url);',
  'const __filename = __meshkitFileURLToPath(import.meta.url);',
  "const __dirname = __meshkitFileURLToPath(new URL('.', import.meta.url));",
].join('\n');

export const PGLITE_ASSETS = ['pglite.wasm', 'pglite.data', 'initdb.wasm'] as const;

export interface Bundle {
  readonly file: string;
  readonly bytes: number;
  /** PGlite's wasm and data files copied beside the bundle. */
  readonly assetBytes: number;
}

/** Bundles `entry` (relative to the repository) into .cache/bench/<name>/main.js with PGlite's assets beside it. */
export async function bundleService(entry: string, name: string): Promise<Bundle> {
  const outdir = join(buildDir, name);
  mkdirSync(outdir, { recursive: true });
  const file = join(outdir, 'main.js');
  await build({
    entryPoints: [join(repoRoot, entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    banner: { js: BANNER },
    external: ['pg-native'],
    logLevel: 'warning',
  });
  writeFileSync(join(outdir, 'package.json'), `${JSON.stringify({ type: 'module', private: true }, null, 2)}\n`);
  const pglite = dirname(createRequire(join(repoRoot, 'package.json')).resolve('@electric-sql/pglite'));
  let assetBytes = 0;
  for (const asset of PGLITE_ASSETS) {
    copyFileSync(join(pglite, asset), join(outdir, asset));
    assetBytes += statSync(join(outdir, asset)).size;
  }
  return { file, bytes: statSync(file).size, assetBytes };
}
