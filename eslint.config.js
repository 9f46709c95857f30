// Lint: typescript-eslint recommended rules plus the package graph.
// common/ never imports a process folder; process folders never import each other.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const processFolders = ['agent', 'coordinator', 'gpu-worker'];
const forbid = (folders) => ({
  patterns: folders.map((f) => ({
    group: [`**/${f}/**`, `**/${f}`],
    message: `'${f}/' is a process folder: share code through common/ instead.`,
  })),
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'common/src/generated/**', 'models/**', 'bin/**', 'tools/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['common/**/*.ts'], rules: { 'no-restricted-imports': ['error', forbid([...processFolders, 'cli'])] } },
  ...processFolders.map((folder) => ({
    files: [`${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', forbid([...processFolders.filter((f) => f !== folder), 'cli'])] },
  })),
);
