// Lint: typescript-eslint recommended rules plus the package graph:
// - common/ never imports a process folder (agent, coordinator, gpu-worker) or cli/;
// - a process folder never imports another process folder or cli/;
// - only files under an adapters/ folder import a transport (nats, @grpc/grpc-js).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const processFolders = ['agent', 'coordinator', 'gpu-worker'];
const transports = ['nats', '@grpc/grpc-js'];

const restrictions = (forbiddenFolders, allowTransports) => ['error', {
  patterns: forbiddenFolders.map((folder) => ({
    group: [`**/${folder}/**`, `**/${folder}`],
    message: `'${folder}/' is not importable from here: share code through common/ instead.`,
  })),
  paths: allowTransports ? [] : transports.map((name) => ({
    name,
    message: `only adapters/ import '${name}': put transport code behind an interface in an adapters/ folder.`,
  })),
}];

const graph = [
  { folder: 'common', forbidden: [...processFolders, 'cli'] },
  ...processFolders.map((folder) => ({ folder, forbidden: [...processFolders.filter((f) => f !== folder), 'cli'] })),
  { folder: 'cli', forbidden: [] },
];

export default tseslint.config(
  { ignores: ['**/*.js', '**/*.mjs', '**/*.cjs', 'dist/**', 'node_modules/**', 'common/src/generated/**', 'models/**', 'bin/**', 'tools/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { rules: { '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }] } },
  ...graph.flatMap(({ folder, forbidden }) => [
    { files: [`${folder}/**/*.ts`], rules: { 'no-restricted-imports': restrictions(forbidden, false) } },
    { files: [`${folder}/**/adapters/**/*.ts`], rules: { 'no-restricted-imports': restrictions(forbidden, true) } },
  ]),
);
