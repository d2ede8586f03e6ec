import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// What workflow code (and the pure domain rules it imports) must never touch: Node built-ins
// and I/O libraries break determinism or the sandbox. Side effects belong in activities.
const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const ioLibraries = [
  'typeorm', 'pg', 'ioredis', 'koa', '@koa/*', 'koa-*', 'uWebSockets.js', 'jose', 'pino', 'prom-client',
  'cockatiel', 'ws', '@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing',
];
const sandboxRestrictions = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      paths: nodeBuiltins.map((name) => ({ name, message: 'Node built-ins are not allowed in workflow or domain code.' })),
      patterns: [
        { group: ioLibraries, message: 'I/O libraries are not allowed in workflow or domain code: use an activity.' },
        {
          group: ['**/activities', '**/activities/**', '**/db/**', '**/platform/**', '**/api/**', '**/realtime/**'],
          allowTypeImports: true,
          message: 'Workflow and domain code may only import types from the I/O layers.',
        },
      ],
    },
  ],
};

// The realtime edge goes through services/ (the same use cases as the API), never the stores.
const realtimeRestrictions = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: ['**/db', '**/db/**'],
          allowTypeImports: true,
          message: 'The realtime edge reaches PostgreSQL and live state through services/, not db/.',
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'test-results/**', '.data/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'no-console': ['error', { allow: ['error', 'warn'] }],
    },
  },
  { files: ['workflows/**/*.ts', 'domain/**/*.ts'], rules: sandboxRestrictions },
  { files: ['realtime/**/*.ts'], rules: realtimeRestrictions },
  { files: ['scripts/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'], rules: { 'no-console': 'off' } },
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-non-null-assertion': 'off' } },
);
