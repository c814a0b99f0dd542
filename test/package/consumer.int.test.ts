/**
 * meshkit as its users get it: `npm pack` of packages/meshkit (its prepack builds the
 * library), the tarball installed with the peers from npm's cache into fresh projects
 * under a temp dir, and the README's example synthesized by each kind of cdk8s app:
 *   - cjs: the `cdk8s init typescript-app` layout (its tsconfig and cdk8s.yaml, copied
 *     from the cdk8s-cli templates), run as that cdk8s.yaml runs it: `npx ts-node main.ts`;
 *   - esm: `"type": "module"`, compiled by tsc (NodeNext), run by node;
 *   - tsx: `npx tsx main.ts`.
 * The three outputs must be byte-identical and accepted by the test kube-apiserver.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../infra/cache.js';
import { KubeClient, type KubeObject } from '../../infra/kube-client.js';

const run = promisify(execFile);
const packageDir = join(repoRoot, 'packages', 'meshkit');
const work = mkdtempSync(join(tmpdir(), 'meshkit-consumer-'));
const template = join(repoRoot, 'node_modules', 'cdk8s-cli', 'templates', 'typescript-app');
const client = new KubeClient(inject('kube'));

/** The version the repository is tested with (its lockfile installed it). */
const tested = (name: string): string =>
  (JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
const peers = Object.fromEntries(['cdk8s', 'cdk8s-plus-28', 'constructs'].map((p) => [p, tested(p)]));

/** The first TypeScript block under the README's "Use the constructs in your own cdk8s app". */
function readmeExample(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use the constructs in your own cdk8s app'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README.md has no ```ts block under "## Use the constructs in your own cdk8s app"');
  return match[1]!;
}

async function sh(cwd: string, command: string, args: string[], timeoutMs = 300_000): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd,
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** A project's own binary, as `npx` would run it. */
const bin = (dir: string, name: string) => join(dir, 'node_modules', '.bin', name);

/** npm install from the registry through npm's cache: never a URL, the tarball by path. */
const npmInstall = (cwd: string) => sh(cwd, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error']);

function project(name: string, packageJson: Record<string, unknown>, files: Record<string, string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, ...packageJson }, null, 2));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return dir;
}

function outputs(dir: string): Record<string, string> {
  const out = join(dir, 'dist');
  return Object.fromEntries(
    readdirSync(out)
      .sort()
      .map((f) => [f, readFileSync(join(out, f), 'utf8')]),
  );
}

let tarball = '';
let packed: { files: { path: string }[]; unpackedSize: number; size: number };
const synthesized: Record<'cjs' | 'esm' | 'tsx', Record<string, string>> = { cjs: {}, esm: {}, tsx: {} };
let bare = '';
let peersOnly = '';
/** The repository's other examples (examples/<name>/main.ts), synthesized by the tsx project. */
const examples: Record<string, Record<string, string>> = {};

beforeAll(async () => {
  // prepack builds dist/ from the sources with tsc; the tarball lands in the temp dir.
  const [info] = JSON.parse(await sh(packageDir, 'npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], 600_000)) as [
    typeof packed & { filename: string },
  ];
  packed = info;
  tarball = join(work, info.filename);

  const example = readmeExample();
  const deps = { meshkit: `file:${tarball}`, ...peers };
  const cjs = project(
    'cjs',
    {
      main: 'main.js',
      types: 'main.ts',
      dependencies: deps,
      devDependencies: { 'ts-node': '10.9.2', typescript: tested('typescript'), '@types/node': tested('@types/node') },
    },
    {
      'main.ts': example,
    },
  );
  cpSync(join(template, 'tsconfig.json'), join(cjs, 'tsconfig.json'));
  cpSync(join(template, 'cdk8s.yaml'), join(cjs, 'cdk8s.yaml'));
  const esm = project(
    'esm',
    { type: 'module', dependencies: deps, devDependencies: { typescript: tested('typescript') } },
    {
      'main.ts': example,
      'tsconfig.json': JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'build' },
        files: ['main.ts'],
      }),
    },
  );
  const tsx = project('tsx', { type: 'module', dependencies: deps, devDependencies: { tsx: tested('tsx') } }, { 'main.ts': example });
  bare = project('bare', { dependencies: deps }, {});
  peersOnly = project('peers', { dependencies: peers }, {});
  await Promise.all([cjs, esm, tsx, bare, peersOnly].map(npmInstall));

  const app = readFileSync(join(cjs, 'cdk8s.yaml'), 'utf8').match(/^app: (.+)$/m)?.[1];
  expect(app, 'the cdk8s init template runs the app with ts-node').toBe('npx ts-node main.ts');
  await sh(cjs, bin(cjs, 'ts-node'), ['main.ts']);
  await sh(esm, bin(esm, 'tsc'), ['-p', '.']);
  await sh(esm, 'node', ['build/main.js']);
  await sh(tsx, bin(tsx, 'tsx'), ['main.ts']);
  synthesized.cjs = outputs(cjs);
  synthesized.esm = outputs(esm);
  synthesized.tsx = outputs(tsx);
  for (const name of readdirSync(join(repoRoot, 'examples'))) {
    cpSync(join(repoRoot, 'examples', name, 'main.ts'), join(tsx, `${name}.ts`));
    await run(bin(tsx, 'tsx'), [`${name}.ts`], { cwd: tsx, env: { ...process.env, CDK8S_OUTDIR: join(tsx, 'examples', name) } });
    examples[name] = Object.fromEntries(readdirSync(join(tsx, 'examples', name)).map((f) => [f, readFileSync(join(tsx, 'examples', name, f), 'utf8')]));
  }
}, 1_200_000);

afterAll(() => {
  client.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the meshkit package installed from its tarball', () => {
  it('packs only the compiled library, its types and its docs: no sources, tests, apps, bench, chaos or scripts', async () => {
    const listed = JSON.parse(await sh(packageDir, 'npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--loglevel=error'])) as [typeof packed];
    const files = listed[0].files.map((f) => f.path).sort();
    expect(files).toEqual(packed.files.map((f) => f.path).sort());
    for (const file of files) expect(file).toMatch(/^(dist\/(constructs|mesh|imports)\/[\w.-]+\.(js|d\.ts)|package\.json|README\.md|API\.md|LICENSE)$/);
    expect(files).toEqual(
      expect.arrayContaining(['dist/constructs/index.js', 'dist/constructs/index.d.ts', 'dist/imports/istio-security.istio.io.js', 'API.md', 'README.md']),
    );
    expect(
      files.filter((f) => /(^|\/)(test|apps|bench|chaos|scripts|analysis|cli|pulumi|infra)\//.test(f) || /\.test\.|\.ts$/.test(f.replace(/\.d\.ts$/, ''))),
    ).toEqual([]);
  });

  it('adds no package beyond itself to what its peers install, and loads one copy of cdk8s', () => {
    const installed = (dir: string) => {
      const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string> }> };
      return { lock, paths: Object.keys(lock.packages).filter((p) => p !== '') };
    };
    const withMeshkit = installed(bare);
    const withoutMeshkit = installed(peersOnly);
    expect(withMeshkit.paths.filter((p) => !withoutMeshkit.paths.includes(p))).toEqual(['node_modules/meshkit']);
    expect(withMeshkit.lock.packages['node_modules/meshkit']?.dependencies ?? {}).toEqual({});
    expect(existsSync(join(bare, 'node_modules', 'meshkit', 'node_modules'))).toBe(false);
    // The README states the count; keep it true.
    expect(readFileSync(join(repoRoot, 'README.md'), 'utf8')).toContain(`${withMeshkit.paths.length} packages`);
  });

  it('synthesizes the README example identically under ts-node (cdk8s init layout), tsc + node (ESM) and tsx', () => {
    expect(Object.keys(synthesized.cjs)).toEqual(['inventory.k8s.yaml']);
    expect(synthesized.esm).toEqual(synthesized.cjs);
    expect(synthesized.tsx).toEqual(synthesized.cjs);
  });

  it('gives a workload that is ready and reachable alone: DNS, istiod and its callers opened, never a rule-less ALLOW', () => {
    const objects = parseAllDocuments(synthesized.cjs['inventory.k8s.yaml']!).map((d) => d.toJS() as KubeObject & { spec: any }); // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const policy of objects.filter((o) => o.kind === 'NetworkPolicy')) {
      const egressPorts = policy.spec.egress.flatMap((r: { ports: { port: number; protocol: string }[] }) => r.ports.map((p) => `${p.port}/${p.protocol}`));
      expect(egressPorts, policy.metadata.name).toEqual(expect.arrayContaining(['53/UDP', '53/TCP', '15012/TCP']));
    }
    for (const policy of objects.filter((o) => o.kind === 'AuthorizationPolicy')) expect(policy.spec.rules.length, policy.metadata.name).toBeGreaterThan(0);
  });

  it('is accepted object by object by the kube-apiserver with the Istio CRDs (server-side dry-run)', async () => {
    const objects = parseAllDocuments(synthesized.cjs['inventory.k8s.yaml']!).map((d) => d.toJS() as KubeObject);
    const result = await client.dryRunApply(objects);
    expect(result.rejections).toEqual([]);
    expect(result.accepted).toHaveLength(objects.length);
  });

  it('runs every example of examples/ against the installed package, and the apiserver accepts what they synthesize', async () => {
    expect(Object.keys(examples).sort()).toEqual(['kafka', 'secure-namespace', 'standalone-app']);
    const objects = Object.values(examples).flatMap((files) =>
      Object.values(files).flatMap((yaml) => parseAllDocuments(yaml).map((d) => d.toJS() as KubeObject)),
    );
    const result = await client.dryRunApply(objects);
    expect(result.rejections).toEqual([]);
    expect(result.accepted).toHaveLength(objects.length);
  });
});
