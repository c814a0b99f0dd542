import tseslint from 'typescript-eslint';

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
);
