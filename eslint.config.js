import tseslint from 'typescript-eslint';

/**
 * The floors (../shared/ARCHITECTURE.md): each part may import only what stands below it.
 * contract/ (what two parts agree on: services, routes, topics, env names) is the ground floor.
 * library (constructs/, mesh/) < apps/ (the services, on their own kit) < charts/ < analysis/
 * (the offline analyzer: library and charts only) < tools (cli/, chaos/ with its chaos-only
 * constructs, bench/, pulumi/, scripts/, local/); infra/ (provisioning of real components) sits
 * beside the library, and so does manifests/ (the one manifest model); test/ is imported by nothing.
 */
const above = (...parts) =>
  parts.map((part) => ({ group: [`**/${part}/**`, `${part}/**`], message: `the floors: this part may not import ${part}/ (eslint.config.js)` }));
const floor = (files, ...parts) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns: above(...parts) }] } });
const tools = ['cli', 'chaos', 'bench', 'pulumi', 'scripts', 'local'];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'apps/*/dist/', 'packages/*/dist/', 'imports/', '.cache/', 'coverage/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Constructs are created for their side effect on the construct tree.
      'no-new': 'off',
    },
  },
  floor(['constructs/**/*.ts', 'mesh/**/*.ts'], 'contract', 'apps', 'charts', 'infra', 'test', 'analysis', ...tools),
  // The contract is the ground floor: anything may import it, and it imports nothing but itself.
  {
    files: ['contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(?!\\./)', message: 'the floors: contract/ imports nothing but itself (eslint.config.js)' }] },
      ],
    },
  },
  // The services may use one file of the library: the path matcher the mesh enforces (mesh/istio-match.ts, dependency-free).
  {
    files: ['apps/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...above('constructs', 'charts', 'infra', 'test', ...tools),
            {
              group: ['**/mesh/**', 'mesh/**', '!**/mesh/istio-match.js'],
              message: 'the floors: apps/ may import only mesh/istio-match.js of mesh/ (eslint.config.js)',
            },
          ],
        },
      ],
    },
  },
  floor(['infra/**/*.ts'], 'apps', 'charts', 'mesh', 'test', ...tools),
  // The manifest model (manifests/: the object type, parsing, selectors, hosts, workload kinds, deploy order)
  // sits beside the library: charts, infra, the analyzer and the tools read manifests through it.
  floor(['manifests/**/*.ts'], 'constructs', 'mesh', 'apps', 'charts', 'infra', 'test', 'analysis', ...tools),
  // The one load generator (load/: target guard, sender, open and closed loops, the phased chaos run, latency histogram),
  // shared by chaos/ and bench/, imports no project part.
  floor(['load/**/*.ts'], 'constructs', 'mesh', 'apps', 'charts', 'infra', 'test', 'analysis', 'manifests', ...tools),
  floor(['charts/**/*.ts'], 'apps', 'infra', 'test', 'analysis', ...tools),
  floor(['analysis/**/*.ts'], 'apps', 'infra', 'test', ...tools),
  floor([...tools.map((t) => `${t}/**/*.ts`), 'examples/**/*.ts'], 'test'),
);
