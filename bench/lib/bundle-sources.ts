/**
 * Which source file a position in a service's bundle comes from. The bundles the shop runs are
 * minified without source maps (what the images run); the same entry is bundled again here with a
 * map, and used only when its code is byte for byte the bundle's, so a profile of the running
 * bundle maps back to apps/, contract/, mesh/ and node_modules/<package>.
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping';
import { bundleEntry } from '../../scripts/build-services.js';
import { buildDir } from './precompile.js';
import { repoRoot } from './results.js';

/** The bundle's code without the trailing source-map comment esbuild adds when it writes a map. */
const code = (file: string) => readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=[^\n]*\n?$/, '\n');

export interface BundleSources {
  /** The repository path of the source at a 0-based line and column of the bundle, or undefined when the map has none. */
  sourceAt(line: number, column: number): string | undefined;
}

/** Maps positions of `runningBundle` (apps/<service>/dist/main.js or a snapshot of it), bundled from `entry`. */
export async function bundleSources(entry: string, runningBundle: string, name: string): Promise<BundleSources> {
  const outdir = join(buildDir, 'mapped', name);
  const { file } = await bundleEntry(entry, outdir, { sourcemap: true });
  if (code(file) !== code(runningBundle)) {
    throw new Error(`${file} (with a source map) differs from ${runningBundle}: rebuild the service (npm run build) and run again`);
  }
  const map = new TraceMap(readFileSync(`${file}.map`, 'utf8'));
  const cache = new Map<string, string | undefined>();
  return {
    sourceAt(line, column) {
      const key = `${line}:${column}`;
      if (!cache.has(key)) {
        const { source } = originalPositionFor(map, { line: line + 1, column });
        cache.set(key, source === null ? undefined : relative(repoRoot, resolve(outdir, source)));
      }
      return cache.get(key);
    },
  };
}
