import { describe, expect, it } from 'vitest';

import { isLocalFsError, localPathErrorOf, sdkErrorMeta } from '../../src/exceptions.js';
import {
  AccessDeniedError,
  ConfigError,
  HashMismatchError,
  InvalidUriError,
  ListingError,
  LocalPathError,
  NotFoundError,
  PreconditionFailedError,
  S3lyncError,
  S3ObjectError,
  S3TimeoutError,
  SyncError,
  UnsafePathError,
} from '../../src/index.js';

function sdkLike(name: string, status: number): Error & { $metadata: { httpStatusCode: number } } {
  return Object.assign(new Error(`${name} from the server`), {
    name,
    $metadata: { httpStatusCode: status },
  });
}

const cause = new Error('underlying');

const cases: [string, (new (...args: never[]) => Error) & { name: string }, () => Error][] = [
  ['S3lyncError', S3lyncError, () => new S3lyncError('m', { cause })],
  ['InvalidUriError', InvalidUriError, () => new InvalidUriError('m', { cause })],
  ['ConfigError', ConfigError, () => new ConfigError('m', { cause })],
  ['S3ObjectError', S3ObjectError, () => new S3ObjectError('m', { cause })],
  ['ListingError', ListingError, () => new ListingError('m', { cause })],
  ['S3TimeoutError', S3TimeoutError, () => new S3TimeoutError('m', { cause })],
  ['NotFoundError', NotFoundError, () => new NotFoundError('m', { cause })],
  ['AccessDeniedError', AccessDeniedError, () => new AccessDeniedError('m', { cause })],
  [
    'PreconditionFailedError',
    PreconditionFailedError,
    () => new PreconditionFailedError('m', { cause }),
  ],
  [
    'HashMismatchError',
    HashMismatchError,
    () => new HashMismatchError('m', { expected: 'a', actual: 'b', cause }),
  ],
  ['LocalPathError', LocalPathError, () => new LocalPathError('m', '/p', { cause })],
  ['UnsafePathError', UnsafePathError, () => new UnsafePathError('m', '/p', { cause })],
  ['SyncError', SyncError, () => new SyncError('m', [{ path: 'a', error: cause }])],
];

describe('every error class', () => {
  it.each(cases)('%s sets name, extends S3lyncError and Error, keeps cause', (name, cls, make) => {
    const error = make();
    expect(error.name).toBe(name);
    expect(cls.name).toBe(name);
    expect(error).toBeInstanceOf(cls);
    expect(error).toBeInstanceOf(S3lyncError);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('m');
    expect(error.cause).toBe(cause);
    expect(typeof error.stack).toBe('string');
    expect(String(error)).toBe(`${name}: m`);
  });

  it('builds the hierarchy the port promises', () => {
    for (const cls of [
      NotFoundError,
      AccessDeniedError,
      PreconditionFailedError,
      ListingError,
      S3TimeoutError,
    ]) {
      expect(new cls('m')).toBeInstanceOf(S3ObjectError);
    }
    expect(new UnsafePathError('m', '/p')).toBeInstanceOf(LocalPathError);
    expect(new InvalidUriError('m')).not.toBeInstanceOf(ConfigError);
    expect(new NotFoundError('m')).not.toBeInstanceOf(AccessDeniedError);
  });

  it('has no cause when none is given', () => {
    expect(new S3lyncError('m').cause).toBeUndefined();
    expect(new S3ObjectError('m').cause).toBeUndefined();
    expect(new LocalPathError('m', '/p').cause).toBeUndefined();
  });
});

describe('S3ObjectError', () => {
  it('takes the status code and the code from an SDK-like cause', () => {
    const sdk = sdkLike('NoSuchKey', 404);
    const error = new NotFoundError('not found: s3://b/k', {
      cause: sdk,
      operation: 'GetObject',
      uri: 's3://b/k',
    });
    expect(error.statusCode).toBe(404);
    expect(error.code).toBe('NoSuchKey');
    expect(error.operation).toBe('GetObject');
    expect(error.uri).toBe('s3://b/k');
    expect(error.cause).toBe(sdk);
  });

  it('takes a plain object cause too', () => {
    const error = new AccessDeniedError('denied', {
      cause: { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } },
    });
    expect(error.statusCode).toBe(403);
    expect(error.code).toBe('AccessDenied');
  });

  it('prefers Code to name', () => {
    const error = new S3ObjectError('m', {
      cause: { name: 'S3ServiceException', Code: 'SlowDown', $metadata: { httpStatusCode: 503 } },
    });
    expect(error.code).toBe('SlowDown');
    expect(error.statusCode).toBe(503);
  });

  it('has no status or code without a cause', () => {
    const error = new S3ObjectError('m');
    expect(error.statusCode).toBeUndefined();
    expect(error.code).toBeUndefined();
    expect(error.operation).toBeUndefined();
    expect(error.uri).toBeUndefined();
  });

  it.each([undefined, null, 'text', 42])('tolerates a %j cause', (value) => {
    const error = new S3ObjectError('m', { cause: value });
    expect(error.statusCode).toBeUndefined();
    expect(error.code).toBeUndefined();
  });

  it('ignores a status code that is not a number', () => {
    const error = new S3ObjectError('m', {
      cause: { name: 'X', $metadata: { httpStatusCode: '404' } },
    });
    expect(error.statusCode).toBeUndefined();
    expect(error.code).toBe('X');
  });
});

describe('sdkErrorMeta', () => {
  it('reads status and code', () => {
    expect(sdkErrorMeta(sdkLike('NoSuchBucket', 404))).toEqual({
      statusCode: 404,
      code: 'NoSuchBucket',
    });
    expect(sdkErrorMeta(null)).toEqual({});
    expect(sdkErrorMeta('x')).toEqual({});
  });
});

describe('HashMismatchError', () => {
  it('keeps expected, actual, uri and path', () => {
    const error = new HashMismatchError('mismatch', {
      expected: 'aaa',
      actual: 'bbb',
      uri: 's3://b/k',
      path: '/tmp/k',
    });
    expect(error.expected).toBe('aaa');
    expect(error.actual).toBe('bbb');
    expect(error.uri).toBe('s3://b/k');
    expect(error.path).toBe('/tmp/k');
    expect(error.cause).toBeUndefined();
  });
});

describe('LocalPathError', () => {
  it('keeps the path', () => {
    expect(new LocalPathError('m', '/some/where').path).toBe('/some/where');
    expect(new UnsafePathError('m', '/root').path).toBe('/root');
  });

  it('is an S3ObjectError, as the Python package raises for a missing local path', () => {
    const enoent = Object.assign(new Error('ENOENT: no such file'), {
      code: 'ENOENT',
      syscall: 'stat',
      path: '/gone',
    });
    for (const error of [
      new LocalPathError('m', '/gone', { cause: enoent }),
      new UnsafePathError('m', '/root', { cause: enoent }),
    ]) {
      expect(error).toBeInstanceOf(S3ObjectError);
      expect(error).toBeInstanceOf(LocalPathError);
      // S3 said nothing: no status, and the fs code is not taken for an S3 code.
      expect(error.statusCode).toBeUndefined();
      expect(error.code).toBeUndefined();
      expect(error.cause).toBe(enoent);
    }
    const named = new LocalPathError('m', '/p', { uri: 's3://b/k', operation: 'PutObject' });
    expect(named.uri).toBe('s3://b/k');
    expect(named.operation).toBe('PutObject');
  });

  it('leaves the errors that are not about S3 or a local path outside S3ObjectError', () => {
    expect(new HashMismatchError('m', { expected: 'a', actual: 'b' })).not.toBeInstanceOf(
      S3ObjectError,
    );
    expect(new ConfigError('m')).not.toBeInstanceOf(S3ObjectError);
    expect(new InvalidUriError('m')).not.toBeInstanceOf(S3ObjectError);
    expect(new SyncError('m', [])).not.toBeInstanceOf(S3ObjectError);
    expect(new NotFoundError('m')).not.toBeInstanceOf(LocalPathError);
  });
});

describe('SyncError', () => {
  it('keeps every failure and uses the first as cause', () => {
    const first = sdkLike('AccessDenied', 403);
    const second = new Error('disk full');
    const failures = [
      { path: 'a/one.txt', error: first },
      { path: 'b/two.txt', error: second },
    ];
    const error = new SyncError('2 files failed', failures);
    expect(error.failures).toEqual(failures);
    expect(error.failures).toHaveLength(2);
    expect(error.failures[1]?.error).toBe(second);
    expect(error.cause).toBe(first);
  });

  it('has no cause without failures', () => {
    const error = new SyncError('nothing', []);
    expect(error.failures).toEqual([]);
    expect(error.cause).toBeUndefined();
  });
});

describe('sdkErrorMeta: codes only from server responses', () => {
  it('does not take a plain error name for an S3 code', () => {
    expect(sdkErrorMeta(new TypeError('x')).code).toBeUndefined();
    expect(new S3ObjectError('m', { cause: new TypeError('x') }).code).toBeUndefined();
  });
});

describe('localPathErrorOf: fs errors as LocalPathError', () => {
  const fsError = (code: string, syscall: string, path?: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: boom, ${syscall}`), { code, syscall, ...(path && { path }) });

  it('wraps a permission error with its own path, the context first, the cause kept', () => {
    const cause = fsError('EACCES', 'open', '/data/x.tmp');
    const e = localPathErrorOf(cause, 'download s3://b/k');
    expect(e).toBeInstanceOf(LocalPathError);
    expect(e?.path).toBe('/data/x.tmp');
    expect(e?.message).toBe('download s3://b/k: EACCES: boom, open');
    expect(e?.cause).toBe(cause);
  });

  it('names the fallback path for a write error that has none (a full disk)', () => {
    const e = localPathErrorOf(fsError('ENOSPC', 'write'), 'download', '/data/big.bin');
    expect(e?.path).toBe('/data/big.bin');
    expect(e?.message).toMatch(/ENOSPC/);
    expect(localPathErrorOf(fsError('ENOSPC', 'write'), 'download')).toBeUndefined();
  });

  it('leaves S3 errors, network errors and plain errors alone', () => {
    const s3 = Object.assign(fsError('EACCES', 'open', '/x'), { $metadata: {} });
    expect(isLocalFsError(s3)).toBe(false);
    expect(isLocalFsError(fsError('ECONNRESET', 'read'))).toBe(false);
    expect(isLocalFsError(new Error('plain'))).toBe(false);
    expect(localPathErrorOf(new Error('plain'), 'x', '/p')).toBeUndefined();
  });

  it('returns a LocalPathError unchanged', () => {
    const e = new LocalPathError('already', '/p');
    expect(localPathErrorOf(e, 'x')).toBe(e);
  });
});
