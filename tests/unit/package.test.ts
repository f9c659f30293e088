/**
 * The published shape of the package: the exports map points at the build, and the built
 * package loads both through ESM `import` and CommonJS `require` (require(esm), Node >= 20.19).
 * The child processes resolve `s3lync` by package self-reference, as a user's code would.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import * as source from '../../src/index.js';

const root = path.resolve(import.meta.dirname, '../..');

interface PackageJson {
  name: string;
  type?: string;
  main?: string;
  types?: string;
  files?: string[];
  engines?: { node?: string };
  exports?: Record<string, string | Record<string, string>>;
}

const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;

function dotExport(): Record<string, string> {
  const entry = pkg.exports?.['.'];
  if (entry === undefined || typeof entry === 'string') {
    throw new Error('package.json: exports["."] must be an object with "types" and "default"');
  }
  return entry;
}

function requireBuild(): void {
  if (!existsSync(path.join(root, 'dist/index.js'))) {
    throw new Error('dist/index.js is missing: run `npm run build` before these tests');
  }
}

/** What a child process reports about the module it loaded. */
interface LoadReport {
  exports: Record<string, string>;
  key: string;
  invalidUriIsS3lyncError: boolean;
}

/** Loads the module as `s` and prints a {@link LoadReport} as JSON. */
const REPORT = `
const o = new s.S3Object('s3://bucket/key', { localPath: '/tmp/x', progressMode: 'disabled' });
let invalidUriIsS3lyncError = false;
try { s.parseS3Uri('http://not-s3/key'); } catch (e) {
  invalidUriIsS3lyncError = e instanceof s.InvalidUriError && e instanceof s.S3lyncError;
}
const exports = Object.fromEntries(Object.keys(s).sort().map((k) => [k, typeof s[k]]));
console.log(JSON.stringify({ exports, key: o.key, invalidUriIsS3lyncError }));
`;

function runNode(args: string[]): LoadReport {
  const out = execFileSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  const last = out.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as LoadReport;
}

const ERROR_CLASSES = [
  'S3lyncError',
  'InvalidUriError',
  'ConfigError',
  'S3ObjectError',
  'ListingError',
  'S3TimeoutError',
  'NotFoundError',
  'AccessDeniedError',
  'PreconditionFailedError',
  'HashMismatchError',
  'LocalPathError',
  'UnsafePathError',
  'SyncError',
];

/** The value exports of src/index.ts (types vanish at runtime), with their typeof. */
const sourceExports: Record<string, string> = Object.fromEntries(
  Object.keys(source)
    .sort()
    .map((k) => [k, typeof (source as Record<string, unknown>)[k]]),
);

function checkLoaded(report: LoadReport): void {
  expect(report.exports.S3Object).toBe('function');
  expect(report.exports.parseS3Uri).toBe('function');
  for (const name of ERROR_CLASSES) {
    expect(report.exports[name], name).toBe('function');
  }
  expect(report.key).toBe('key');
  expect(report.invalidUriIsS3lyncError).toBe(true);
  // Every value export of src/index.ts, and nothing else.
  expect(report.exports).toEqual(sourceExports);
  // Internals stay internal: a refactor of them is not a breaking change.
  for (const internal of INTERNALS) expect(report.exports[internal], internal).toBeUndefined();
}

/** Names that were exported by s3lync 0.1 and are internal now. */
const INTERNALS = [
  'runSync',
  'planSync',
  'HashIndex',
  'parseIndex',
  'serializeIndex',
  'walkLocal',
  'sleep',
  'retry',
  'ProgressBar',
  'S3lyncClient',
];

describe('package.json', () => {
  it('is an ES module package for Node >= 20.19 that publishes dist', () => {
    expect(pkg.name).toBe('s3lync');
    expect(pkg.type).toBe('module');
    expect(pkg.engines?.node).toBe('>=20.19');
    expect(pkg.files).toContain('dist');
  });

  it('lists "types" before "default" in exports["."]', () => {
    const conditions = Object.keys(dotExport());
    expect(conditions).toContain('types');
    expect(conditions).toContain('default');
    expect(conditions.indexOf('types')).toBeLessThan(conditions.indexOf('default'));
  });
});

describe('the build', () => {
  beforeAll(requireBuild);

  it('holds the files exports["."] points at', () => {
    const { types, default: entry } = dotExport();
    for (const target of [types, entry]) {
      expect(target).toMatch(/^\.\/dist\//);
      expect(existsSync(path.join(root, target ?? '')), `${String(target)} exists`).toBe(true);
    }
    expect(types).toMatch(/\.d\.ts$/);
    expect(entry).toMatch(/\.js$/);
    // The legacy fields agree with the exports map.
    expect(pkg.main).toBe(entry);
    expect(pkg.types).toBe(types);
  });

  it("loads with CommonJS require('s3lync') (require(esm): no top-level await)", () => {
    checkLoaded(runNode(['-e', `const s = require('s3lync');\n${REPORT}`]));
  });

  it("loads with ESM import * from 's3lync'", () => {
    checkLoaded(runNode(['--input-type=module', '-e', `import * as s from 's3lync';\n${REPORT}`]));
  });

  it('compares against every value export named in src/index.ts', () => {
    // The names in `export { ... } from` blocks, minus `type` exports, match what the
    // source module exports at runtime, so the comparisons above cover all of them.
    const text = readFileSync(path.join(root, 'src/index.ts'), 'utf8');
    const named = [...text.matchAll(/export\s*\{([^}]*)\}\s*from/g)]
      .flatMap((m) => (m[1] ?? '').split(','))
      .map((n) => n.trim())
      .filter((n) => n !== '' && !n.startsWith('type '))
      .map((n) => n.split(/\s+as\s+/).at(-1) ?? n)
      .sort();
    expect(named.length).toBeGreaterThan(0);
    expect(Object.keys(sourceExports)).toEqual(named);
  });
});
