import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/', 'node_modules/', 'coverage/', 'packs/**/*.js', 'packs/**/*.mjs', 'packs/**/*.cjs', 'src/**/*.cjs']},
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_'}],
    },
  },
  {
    // The engine is shared by the CLI and the daemon: it must stay free of UI and CLI frameworks.
    files: ['src/engine/**/*.ts', 'src/daemon/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {patterns: ['@oclif/*', 'ink', 'ink-*', 'chalk', 'react', '../ui/*', '../commands/*']}],
    },
  },
)
