// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Built-in modules are imported with the node: protocol. */
const NODE_PROTOCOL = [
  {
    regex:
      '^(fs|path|os|stream|crypto|util|events|url|child_process|readline|tty|net|http|https|process|buffer|timers)(/.*)?$',
    message: 'Use the node: protocol for built-in modules.',
  },
];

/**
 * What writes, renames, deletes or opens files. Under a sync root only src/local-root.ts
 * may do that (it refuses paths that leave the root and never writes through a link), and
 * file contents are read with its openRegularFile (no FIFO hangs). src/lock.ts and
 * src/hash-index.ts write s3lync's own state files under <cache>/.locks and <cache>/.index,
 * and src/cache/state.ts the cache's usage log under <cache>/.usage (never a cached file:
 * evictions remove those through LocalRoot).
 */
const FS_WRITES = [
  'appendFile',
  'appendFileSync',
  'chmod',
  'chmodSync',
  'chown',
  'chownSync',
  'copyFile',
  'copyFileSync',
  'cp',
  'cpSync',
  'createReadStream',
  'createWriteStream',
  'futimes',
  'futimesSync',
  'link',
  'linkSync',
  'lutimes',
  'lutimesSync',
  'mkdir',
  'mkdirSync',
  'mkdtemp',
  'mkdtempSync',
  'open',
  'openSync',
  'readFile',
  'rename',
  'renameSync',
  'rm',
  'rmSync',
  'rmdir',
  'rmdirSync',
  'symlink',
  'symlinkSync',
  'truncate',
  'truncateSync',
  'unlink',
  'unlinkSync',
  'utimes',
  'utimesSync',
  'writeFile',
  'writeFileSync',
  'default',
];
const CONFINED = {
  importNames: FS_WRITES,
  message:
    'Write, delete and open local files through src/local-root.ts (LocalRoot, openRegularFile): the one confined door to the filesystem.',
};

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.scratch/', '.bench-out/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      'no-restricted-imports': ['error', { patterns: NODE_PROTOCOL }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/local-root.ts', 'src/lock.ts', 'src/hash-index.ts', 'src/cache/state.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: NODE_PROTOCOL,
          paths: [
            { name: 'node:fs', ...CONFINED },
            { name: 'node:fs/promises', ...CONFINED },
          ],
        },
      ],
    },
  },
  {
    // The layout holds by machine: small files, small functions, no import cycles.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'max-lines': ['error', { max: 450 }],
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['tests/**', 'bench/**', 'demo/**', 'scripts/**'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  prettier,
);
