import tseslint from 'typescript-eslint';

/**
 * The floors (../shared/ARCHITECTURE.md): each part may import only what stands below it.
 * library (constructs/, mesh/ without mesh/analysis/) < apps/ (the services, on their own kit)
 * < charts/ < tools (analyzer, cli/, chaos/, bench/, pulumi/, scripts/, local/) ; infra/
 * (provisioning of real components) sits beside the library; test/ is imported by nothing.
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
  floor(['constructs/**/*.ts', 'mesh/*.ts'], 'apps', 'charts', 'infra', 'test', 'analysis', ...tools),
  floor(['apps/**/*.ts'], 'constructs', 'mesh', 'charts', 'infra', 'test', ...tools),
  floor(['infra/**/*.ts'], 'apps', 'charts', 'mesh', 'test', ...tools),
  floor(['charts/**/*.ts'], 'apps', 'infra', 'test', 'analysis', ...tools),
  floor(['mesh/analysis/**/*.ts', 'analysis/**/*.ts', ...tools.map((t) => `${t}/**/*.ts`), 'examples/**/*.ts'], 'test'),
);
