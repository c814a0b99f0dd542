import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, derived from this file's location so scripts work from any cwd. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The one git-ignored folder holding everything provisioned from registries:
 * built binaries, CRDs, jar classpaths, throwaway data directories.
 * MESHKIT_CACHE moves it (for example to share it between clones).
 */
export const cacheRoot = resolve(process.env.MESHKIT_CACHE ?? join(repoRoot, '.cache'));

/** A sub-folder of the cache, created on first use. */
export function cachePath(...parts: string[]): string {
  const path = join(cacheRoot, ...parts);
  mkdirSync(path, { recursive: true });
  return path;
}
