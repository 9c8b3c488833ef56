// Lint: the TypeScript-aware recommended rules, plus the purity rule for the deterministic core.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const impure = {
  patterns: [
    { group: ['node:*', 'fs', 'net', 'http', 'os', 'crypto', 'child_process', 'timers'], message: 'src/raft and src/kv are pure: no Node I/O.' },
    { group: ['@grpc/*', 'level', 'classic-level', 'pino', 'prom-client'], message: 'src/raft and src/kv are pure: no gRPC, LevelDB, logging or metrics.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'jepsen-lite/runs/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/raft/**/*.ts', 'src/kv/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', impure],
      'no-restricted-globals': ['error', 'Date', 'setTimeout', 'setInterval', 'setImmediate', 'performance', 'process'],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use the injected seeded PRNG.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
