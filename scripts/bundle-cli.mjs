/* global console */
/**
 * Bundles the command line into one file (dist/cli.js, over tsc's output): Node loads one
 * module instead of about eighty, about 0.1 s less start-up for every `s3lync` command, on
 * a no-op sync a fifth of the whole process. Dependencies stay external (the package's
 * own); the library's files (dist/index.js and the rest) stay as tsc wrote them.
 *
 * The CommonJS dependencies are loaded with `require`, not `import`: imported, every file
 * of the AWS SDK goes through the ESM loader's module-format detection (about 0.1 s of CPU
 * on Node 20); required, through the CommonJS loader only.
 */
import path from 'node:path';

import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');

/** The CommonJS packages the command line loads at start-up. */
const REQUIRED = [
  '@aws-sdk/client-s3',
  '@aws-sdk/checksums',
  '@aws-sdk/checksums/crc',
  '@aws-sdk/xml-builder',
  '@smithy/signature-v4',
];

/** Each import of a {@link REQUIRED} package becomes `require()` through a shim module. */
const requireCommonJs = {
  name: 'require-commonjs',
  setup(b) {
    const filter = new RegExp(`^(${REQUIRED.map((p) => p.replace(/[/.-]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'require-shim'
        ? { path: args.path, external: true }
        : { path: args.path, namespace: 'require-shim' },
    );
    b.onLoad({ filter: /.*/, namespace: 'require-shim' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};
const cli = path.join(root, 'dist', 'cli.js');
await build({
  entryPoints: [cli],
  outfile: cli,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  plugins: [requireCommonJs],
  // esbuild's require() of an external package calls the module's own `require`.
  banner: {
    js: "import { createRequire as s3lyncCreateRequire } from 'node:module';\nconst require = s3lyncCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
console.log('bundled dist/cli.js');
