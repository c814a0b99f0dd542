import { join } from 'node:path';
import { bundleEntry } from '../../scripts/build-services.js';
import { buildDir } from './precompile.js';

export interface Bundle {
  readonly file: string;
  readonly bytes: number;
  /** PGlite's wasm and data files copied beside the bundle. */
  readonly assetBytes: number;
}

/**
 * Bundles `entry` (relative to the repository) into .cache/bench/<name>/main.js with the
 * build's own esbuild options (scripts/build-services.ts), never into apps/<name>/dist.
 */
export async function bundleService(entry: string, name: string): Promise<Bundle> {
  const { file, bundleBytes, assetBytes } = await bundleEntry(entry, join(buildDir, name));
  return { file, bytes: bundleBytes, assetBytes };
}
