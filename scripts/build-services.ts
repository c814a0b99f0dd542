/**
 * Bundles each service into one file, apps/<name>/dist/main.js (ESM, Node 20+,
 * minified), started with `node apps/<name>/dist/main.js`.
 *
 * Usage: tsx scripts/build-services.ts [--service <name>]...   (all five when none is named)
 *
 * PGlite (the embedded database used without DATABASE_URL) loads its WebAssembly
 * and data files from `new URL('./pglite.wasm', import.meta.url)`, so they are
 * copied next to main.js; import.meta.url is the bundle's own URL at run time.
 * A package.json with "type": "module" travels with the bundle so Node loads
 * it as ESM wherever it is copied.
 */
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { services, type ServiceName } from '../contract/services.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Every service of the contract (contract/services.ts), each bundled from apps/<name>/main.ts. */
export const SERVICES: readonly ServiceName[] = services.map((s) => s.name);
type Service = ServiceName;

const PGLITE_ASSETS = ['pglite.wasm', 'pglite.data', 'initdb.wasm'];

// CommonJS dependencies (express, pg, kafkajs, pino) call require() on Node built-ins; ESM has no require.
const BANNER = [
  "import { createRequire as __meshkitCreateRequire } from 'node:module';",
  "import { fileURLToPath as __meshkitFileURLToPath } from 'node:url';",
  'const require = __meshkitCreateRequire(import.meta.url);',
  'const __filename = __meshkitFileURLToPath(import.meta.url);',
  "const __dirname = __meshkitFileURLToPath(new URL('.', import.meta.url));",
].join('\n');

function pgliteDist(): string {
  const entry = createRequire(join(root, 'package.json')).resolve('@electric-sql/pglite');
  return dirname(entry);
}

/**
 * Bundles one entry point (relative to the repository) into `outdir`/main.js with its
 * package.json and PGlite's assets beside it. The benchmarks bundle their variants with
 * this too, so what they measure is what the images run.
 */
export async function bundleEntry(
  entry: string,
  outdir: string,
  /** Also write main.js.map (the code stays byte for byte the same; a profile's positions map back to sources). */
  options: { sourcemap?: boolean } = {},
): Promise<{ file: string; bundleBytes: number; assetBytes: number }> {
  await mkdir(outdir, { recursive: true });
  const file = join(outdir, 'main.js');
  await build({
    entryPoints: [join(root, entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: options.sourcemap ?? false,
    legalComments: 'eof',
    banner: { js: BANNER },
    // pg loads its optional native binding only when asked to (NODE_PG_FORCE_NATIVE); it is not installed.
    external: ['pg-native'],
    logLevel: 'warning',
  });
  await writeFile(join(outdir, 'package.json'), `${JSON.stringify({ type: 'module', private: true }, null, 2)}\n`);
  let assetBytes = 0;
  const from = pgliteDist();
  for (const asset of PGLITE_ASSETS) {
    await copyFile(join(from, asset), join(outdir, asset));
    assetBytes += (await stat(join(outdir, asset))).size;
  }
  return { file, bundleBytes: (await stat(file)).size, assetBytes };
}

/** apps/<service>/dist/main.js, from a clean folder. */
export async function buildService(service: Service): Promise<{ file: string; bundleBytes: number; assetBytes: number }> {
  const outdir = join(root, 'apps', service, 'dist');
  await rm(outdir, { recursive: true, force: true });
  return bundleEntry(join('apps', service, 'main.ts'), outdir);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { service: { type: 'string', multiple: true } } });
  const requested = values.service ?? [...SERVICES];
  const unknown = requested.filter((s) => !(SERVICES as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`unknown service(s) ${unknown.join(', ')}: choose from ${SERVICES.join(', ')}`);
  for (const service of requested as Service[]) {
    const { file, bundleBytes, assetBytes } = await buildService(service);
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MB`;
    console.log(`${service.padEnd(12)} ${relative(root, file)}  ${mb(bundleBytes)} (+ ${mb(assetBytes)} PGlite assets)`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
