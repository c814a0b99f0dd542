/**
 * The services' bundles for a local run: apps/<name>/dist/main.js, built with
 * scripts/build-services.ts when missing or older than its sources, then snapshotted into the
 * run directory so a rebuild cannot change a running shop.
 */
import { copyFile, link, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceName } from '../../charts/platform.js';
import { repoRoot } from './paths.js';

async function newestSourceMtime(dirs: readonly string[]): Promise<number> {
  let newest = 0;
  for (const dir of dirs) {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      const parent = entry.parentPath;
      if (!entry.isFile() || !entry.name.endsWith('.ts') || parent.split(/[\\/]/).includes('dist')) continue;
      newest = Math.max(newest, (await stat(join(parent, entry.name))).mtimeMs);
    }
  }
  return newest;
}

/** Builds apps/<service>/dist when missing or older than the kit, the service, the contract or the lockfile, then snapshots it into `into`; returns the entry file. */
export async function snapshotBundle(service: ServiceName, into: string): Promise<string> {
  const dist = join(repoRoot, 'apps', service, 'dist');
  const built = await stat(join(dist, 'main.js')).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
  const sources = Math.max(
    await newestSourceMtime([join(repoRoot, 'apps', 'kit'), join(repoRoot, 'apps', service), join(repoRoot, 'contract')]),
    // The one file of the library a service bundles: the path matcher the mesh enforces.
    (await stat(join(repoRoot, 'mesh', 'istio-match.ts'))).mtimeMs,
    (await stat(join(repoRoot, 'package-lock.json'))).mtimeMs,
  );
  if (built === undefined || built < sources) {
    const { buildService } = await import('../../scripts/build-services.js');
    await buildService(service);
  }
  // Hard links cost nothing and survive a later rebuild (which removes and rewrites dist/); copies across file systems.
  await rm(into, { recursive: true, force: true });
  await mkdir(into, { recursive: true });
  for (const file of await readdir(dist)) {
    await link(join(dist, file), join(into, file)).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
      await copyFile(join(dist, file), join(into, file));
    });
  }
  return join(into, 'main.js');
}
