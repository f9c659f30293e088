import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { InvalidUriError, LocalPathError, S3lyncError, UnsafePathError } from '../../src/index.js';
import {
  parseS3UriOrBucket,
  ACCEPTED_URI_FORMS,
  cacheRoot,
  defaultLocalPath,
  expandHome,
  formatBytes,
  formatS3Uri,
  parseS3Uri,
  redactRawUri,
  resolveKeyPath,
  resized,
  HOST_TAG,
  isTempName,
  tempFileOwner,
  tempName,
  type ParsedS3Uri,
} from '../../src/utils.js';

const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const AWS_ACCESS = 'AKIAIOSFODNN7EXAMPLE';

/** Calls `fn`, expects it to throw, and returns what it threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function uriError(uri: unknown): InvalidUriError {
  const error = thrown(() => parseS3Uri(uri as string));
  expect(error).toBeInstanceOf(InvalidUriError);
  return error as InvalidUriError;
}

describe('parseS3UriOrBucket', () => {
  it('accepts a bucket alone, with or without the slash, as an empty key', () => {
    expect(parseS3UriOrBucket('s3://bkt')).toMatchObject({ bucket: 'bkt', key: '' });
    expect(parseS3UriOrBucket('s3://bkt/')).toMatchObject({ bucket: 'bkt', key: '' });
    expect(parseS3UriOrBucket('s3://bkt/a/b')).toMatchObject({ bucket: 'bkt', key: 'a/b' });
  });
  it('still refuses what is no URI, with the error of the URI as given', () => {
    expect(() => parseS3UriOrBucket('s3://')).toThrow(/the bucket is missing/);
    expect(() => parseS3UriOrBucket('s3://ab')).toThrow(InvalidUriError);
    expect(() => parseS3UriOrBucket('s3://bkt?versionId=v1')).toThrow(InvalidUriError);
  });
});

describe('parseS3Uri', () => {
  describe('s3://bucket/key', () => {
    it('gives bucket and key, no endpoint, no credentials', () => {
      const parsed = parseS3Uri('s3://my-bucket/path/to/file.txt');
      expect(parsed).toEqual({ bucket: 'my-bucket', key: 'path/to/file.txt' });
      expect(parsed).not.toHaveProperty('endpoint');
      expect(parsed).not.toHaveProperty('credentials');
    });

    it('accepts a single-segment key', () => {
      expect(parseS3Uri('s3://bucket/key')).toEqual({ bucket: 'bucket', key: 'key' });
    });

    it('accepts dotted bucket names and legacy names', () => {
      expect(parseS3Uri('s3://my.bucket.example/k').bucket).toBe('my.bucket.example');
      expect(parseS3Uri('s3://Legacy_Bucket/k').bucket).toBe('Legacy_Bucket');
      expect(parseS3Uri('s3://abc/k').bucket).toBe('abc');
    });

    it('keeps a trailing slash on the key (a prefix)', () => {
      expect(parseS3Uri('s3://bucket/some/prefix/')).toEqual({
        bucket: 'bucket',
        key: 'some/prefix/',
      });
    });

    it.each([
      ['spaces', 'my file name.txt'],
      ['unicode', 'données/ファイル/😀.txt'],
      ['a plus sign', 'a+b/c+d.txt'],
      ['a percent sign', '100%/a%20b.txt'],
      ['a hash', 'notes#1.txt'],
      ['a question mark', 'what?.txt'],
      ['an at sign', 'user@example.com/data.csv'],
      ['a colon', 'times/12:30:00.log'],
      ['a colon and an at sign', 'dir/user:name@host/file'],
      ['a host-and-port-looking segment before an at sign', 'a:9000@b'],
      ['every special character at once', 'x y/+%#?@:/z'],
    ])('takes a key with %s literally', (_what, key) => {
      expect(parseS3Uri(`s3://bucket/${key}`)).toEqual({ bucket: 'bucket', key });
    });

    it('takes a key with a colon and an at sign literally in a dotted bucket', () => {
      expect(parseS3Uri('s3://my.bucket/a:b@c')).toEqual({ bucket: 'my.bucket', key: 'a:b@c' });
    });
  });

  describe('s3://endpoint@bucket/key', () => {
    it('gives the endpoint https:// when it has no scheme', () => {
      expect(parseS3Uri('s3://minio.local@bucket/dir/key.bin')).toEqual({
        bucket: 'bucket',
        key: 'dir/key.bin',
        endpoint: 'https://minio.local',
      });
    });

    it('treats host:port before @ as an endpoint, not as credentials', () => {
      const parsed = parseS3Uri('s3://host:9000@bucket/key');
      expect(parsed).toEqual({ bucket: 'bucket', key: 'key', endpoint: 'https://host:9000' });
      expect(parsed.credentials).toBeUndefined();
    });

    it('treats an IP address with a port as an endpoint', () => {
      expect(parseS3Uri('s3://127.0.0.1:7480@bucket/key')).toEqual({
        bucket: 'bucket',
        key: 'key',
        endpoint: 'https://127.0.0.1:7480',
      });
    });

    it('uses only the first @: later ones belong to the key', () => {
      expect(parseS3Uri('s3://minio@bucket/a@b/c@d')).toEqual({
        bucket: 'bucket',
        key: 'a@b/c@d',
        endpoint: 'https://minio',
      });
    });
  });

  describe('s3://SECRET:ACCESS@endpoint/bucket/key', () => {
    it('reads the secret FIRST and the access key second', () => {
      expect(parseS3Uri('s3://MYSECRET:MYACCESS@ceph.example.com/bucket/dir/key')).toEqual({
        bucket: 'bucket',
        key: 'dir/key',
        endpoint: 'https://ceph.example.com',
        credentials: { secretAccessKey: 'MYSECRET', accessKeyId: 'MYACCESS' },
      });
    });

    it('accepts an endpoint with a port', () => {
      expect(parseS3Uri('s3://SECRET:ACCESS@localhost:9000/bucket/key')).toEqual({
        bucket: 'bucket',
        key: 'key',
        endpoint: 'https://localhost:9000',
        credentials: { secretAccessKey: 'SECRET', accessKeyId: 'ACCESS' },
      });
    });

    it('accepts an explicit https:// endpoint', () => {
      expect(parseS3Uri('s3://SECRET:ACCESS@https://s3.example.com/bucket/key')).toEqual({
        bucket: 'bucket',
        key: 'key',
        endpoint: 'https://s3.example.com',
        credentials: { secretAccessKey: 'SECRET', accessKeyId: 'ACCESS' },
      });
    });

    it('accepts an explicit http:// endpoint with an IP and a port', () => {
      expect(parseS3Uri('s3://SECRET:ACCESS@http://127.0.0.1:7480/bucket/key')).toEqual({
        bucket: 'bucket',
        key: 'key',
        endpoint: 'http://127.0.0.1:7480',
        credentials: { secretAccessKey: 'SECRET', accessKeyId: 'ACCESS' },
      });
    });

    it('accepts an AWS-style secret that contains "/" and "+"', () => {
      const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY/EXAMPLEKEY';
      expect(parseS3Uri(`s3://${secret}:${AWS_ACCESS}@s3.example.com/bucket/a/b`)).toEqual({
        bucket: 'bucket',
        key: 'a/b',
        endpoint: 'https://s3.example.com',
        credentials: { secretAccessKey: secret, accessKeyId: AWS_ACCESS },
      });
    });

    it('accepts the AWS example secret with an explicit scheme', () => {
      expect(parseS3Uri(`s3://${AWS_SECRET}:${AWS_ACCESS}@http://127.0.0.1:7480/b-1/k`)).toEqual({
        bucket: 'b-1',
        key: 'k',
        endpoint: 'http://127.0.0.1:7480',
        credentials: { secretAccessKey: AWS_SECRET, accessKeyId: AWS_ACCESS },
      });
    });

    it('takes the key literally after credentials, even with @ and :', () => {
      expect(parseS3Uri('s3://SECRET:ACCESS@host/bucket/a@b:c d+%#?')).toEqual({
        bucket: 'bucket',
        key: 'a@b:c d+%#?',
        endpoint: 'https://host',
        credentials: { secretAccessKey: 'SECRET', accessKeyId: 'ACCESS' },
      });
    });

    it('keeps a trailing slash on the key', () => {
      expect(parseS3Uri('s3://SECRET:ACCESS@host/bucket/prefix/').key).toBe('prefix/');
    });
  });

  describe('s3://https://endpoint/bucket/key', () => {
    it('accepts https://', () => {
      expect(parseS3Uri('s3://https://s3.example.com/bucket/dir/key')).toEqual({
        bucket: 'bucket',
        key: 'dir/key',
        endpoint: 'https://s3.example.com',
      });
    });

    it('accepts http:// with a port', () => {
      expect(parseS3Uri('s3://http://localhost:7480/bucket/key')).toEqual({
        bucket: 'bucket',
        key: 'key',
        endpoint: 'http://localhost:7480',
      });
    });

    it('lowercases the scheme', () => {
      expect(parseS3Uri('s3://HTTP://Host:1/bucket/key').endpoint).toBe('http://Host:1');
    });

    it('takes a key with @ and : literally', () => {
      expect(parseS3Uri('s3://https://host/bucket/a:b@c')).toEqual({
        bucket: 'bucket',
        key: 'a:b@c',
        endpoint: 'https://host',
      });
    });
  });

  describe('invalid URIs', () => {
    it.each([
      ['another scheme', 'https://bucket/key'],
      ['no scheme', 'bucket/key'],
      ['a single slash', 's3:/bucket/key'],
      ['an empty string', ''],
      ['only the scheme', 's3://'],
      ['no bucket', 's3:///key'],
      ['no key', 's3://bucket'],
      ['an empty key', 's3://bucket/'],
      ['an invalid bucket name (bad character)', 's3://bad!bucket/key'],
      ['an invalid bucket name (too short)', 's3://ab/key'],
      ['an invalid bucket name (leading dash)', 's3://-bucket/key'],
      ['a NUL character', 's3://bucket/ke\0y'],
      ['an empty endpoint before @', 's3://@bucket/key'],
      ['an empty endpoint after a scheme', 's3://https:///bucket/key'],
      ['an endpoint with spaces', 's3://https://ho st/bucket/key'],
      ['an empty endpoint after credentials', 's3://SECRET:ACCESS@/bucket/key'],
      ['an empty access key', 's3://SECRET:@host/bucket/key'],
      ['an endpoint but no bucket', 's3://https://host'],
      ['an endpoint and a bucket but no key', 's3://https://host/bucket/'],
      ['endpoint@bucket with no key', 's3://minio@bucket'],
    ])('rejects %s', (_what, uri) => {
      const error = uriError(uri);
      expect(error).toBeInstanceOf(S3lyncError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('InvalidUriError');
      for (const form of ACCEPTED_URI_FORMS) expect(error.message).toContain(form);
    });

    it.each([42, undefined, null, { uri: 's3://bucket/key' }])('rejects a non-string (%j)', (v) => {
      const error = uriError(v);
      expect(error.message).toContain('expected a string');
      for (const form of ACCEPTED_URI_FORMS) expect(error.message).toContain(form);
    });

    it.each([
      ['no bucket', 's3://MYSECRET:AKID@host/'],
      ['no key', 's3://MYSECRET:AKID@host/bucket'],
      ['an empty key', 's3://MYSECRET:AKID@https://host/bucket/'],
      ['an invalid bucket', 's3://MYSECRET:AKID@host/bad!bucket/key'],
      ['a NUL', 's3://MYSECRET:AKID@host/bucket/a\0b'],
      ['an empty endpoint', 's3://MYSECRET:AKID@/bucket/key'],
      ['only credentials', 's3://MYSECRET:AKID@'],
      ['another scheme', 'https://MYSECRET:AKID@host/bucket/key'],
      ['an upper-case scheme', 'S3://MYSECRET:AKID@host/bucket/key'],
      ['leading whitespace', ' s3://MYSECRET:AKID@host/bucket/key'],
      ['an endpoint scheme but no s3://', 'http://MYSECRET:AKID@http://host/bucket/key'],
    ])('never puts the secret in the message (%s)', (_what, uri) => {
      const error = uriError(uri);
      expect(error.message).not.toContain('MYSECRET');
      for (const form of ACCEPTED_URI_FORMS) expect(error.message).toContain(form);
    });

    it('never puts an AWS-style secret in the message', () => {
      const error = uriError(`s3://${AWS_SECRET}:${AWS_ACCESS}@host/bucket/`);
      expect(error.message).not.toContain(AWS_SECRET);
      expect(error.message).not.toContain('bPxRfiCYEXAMPLEKEY');
      expect(error.message).toContain(AWS_ACCESS);
    });

    it('names the problem', () => {
      expect(uriError('s3://bucket/').message).toContain('key is missing');
      expect(uriError('s3:///key').message).toContain('bucket is missing');
      expect(uriError('gs://bucket/key').message).toContain('s3://');
      expect(uriError('s3://bad!bucket/key').message).toContain('bad!bucket');
    });
  });
});

describe('formatS3Uri', () => {
  it('formats a plain URI', () => {
    expect(formatS3Uri({ bucket: 'b-1', key: 'a/b.txt' })).toBe('s3://b-1/a/b.txt');
  });

  it('formats an endpoint with its scheme', () => {
    expect(formatS3Uri({ bucket: 'b-1', key: 'k', endpoint: 'http://host:9000' })).toBe(
      's3://http://host:9000/b-1/k',
    );
  });

  it('replaces the secret with *** and keeps the access key', () => {
    const text = formatS3Uri({
      bucket: 'bucket',
      key: 'key',
      endpoint: 'https://host',
      credentials: { secretAccessKey: AWS_SECRET, accessKeyId: AWS_ACCESS },
    });
    expect(text).toBe(`s3://***:${AWS_ACCESS}@https://host/bucket/key`);
    expect(text).not.toContain(AWS_SECRET);
  });

  it('redacts a secret parsed from a URI', () => {
    const text = formatS3Uri(parseS3Uri(`s3://${AWS_SECRET}:${AWS_ACCESS}@host/bucket/key`));
    expect(text).not.toContain(AWS_SECRET);
    expect(text).toContain(AWS_ACCESS);
    expect(text).toContain('***');
  });

  it.each([
    's3://bucket/dir/key',
    's3://bucket/prefix/',
    's3://https://host/bucket/key',
    's3://http://127.0.0.1:7480/bucket/a b+c%#?@:d',
  ])('round-trips %s', (uri) => {
    const parsed: ParsedS3Uri = parseS3Uri(uri);
    expect(formatS3Uri(parsed)).toBe(uri);
    expect(parseS3Uri(formatS3Uri(parsed))).toEqual(parsed);
  });

  it('turns endpoint@bucket into an explicit https endpoint that parses the same', () => {
    const parsed = parseS3Uri('s3://minio:9000@bucket/key');
    expect(formatS3Uri(parsed)).toBe('s3://https://minio:9000/bucket/key');
    expect(parseS3Uri(formatS3Uri(parsed))).toEqual(parsed);
  });
});

describe('redactRawUri', () => {
  it('redacts the secret of a SECRET:ACCESS@ head', () => {
    expect(redactRawUri('s3://MYSECRET:AKID@host/bucket/key')).toBe(
      's3://***:AKID@host/bucket/key',
    );
  });

  it('redacts a secret with "/" and "+"', () => {
    expect(redactRawUri(`s3://${AWS_SECRET}+x:${AWS_ACCESS}@https://h/b/k`)).toBe(
      `s3://***:${AWS_ACCESS}@https://h/b/k`,
    );
  });

  it('redacts an empty access key', () => {
    expect(redactRawUri('s3://MYSECRET:@host/b/k')).toBe('s3://***:@host/b/k');
  });

  it('leaves URIs without credentials alone', () => {
    for (const uri of [
      's3://bucket/key',
      's3://bucket/a@b',
      's3://minio@bucket/key',
      's3://https://host/bucket/key',
      'not a uri',
      '',
    ]) {
      expect(redactRawUri(uri)).toBe(uri);
    }
  });

  it('redacts a secret even when the scheme is not s3://', () => {
    expect(redactRawUri('https://MYSECRET:AKID@host/b/k')).not.toContain('MYSECRET');
    expect(redactRawUri('S3://MYSECRET:AKID@host/b/k')).toBe('S3://***:AKID@host/b/k');
    expect(redactRawUri(' s3://MYSECRET:AKID@host/b/k')).toBe(' s3://***:AKID@host/b/k');
    expect(redactRawUri(`https://${AWS_SECRET}:${AWS_ACCESS}@h/b/k`)).toBe(
      `https://***:${AWS_ACCESS}@h/b/k`,
    );
  });
});

describe('cacheRoot', () => {
  const tmpdir = path.join(path.sep, 'tmp-dir');

  it('prefers XDG_CACHE_HOME', () => {
    expect(cacheRoot({ xdgCacheHome: '/xdg', home: '/home/u', tmpdir })).toBe(
      path.join('/xdg', 's3lync'),
    );
  });

  it('falls back to HOME/.cache', () => {
    expect(cacheRoot({ home: '/home/u', tmpdir })).toBe(path.join('/home/u', '.cache', 's3lync'));
    expect(cacheRoot({ xdgCacheHome: '', home: '/home/u', tmpdir })).toBe(
      path.join('/home/u', '.cache', 's3lync'),
    );
    expect(cacheRoot({ xdgCacheHome: undefined, home: '/home/u', tmpdir })).toBe(
      path.join('/home/u', '.cache', 's3lync'),
    );
  });

  it('falls back to the temp directory', () => {
    expect(cacheRoot({ tmpdir })).toBe(path.join(tmpdir, 's3lync'));
    expect(cacheRoot({ xdgCacheHome: '', home: '', tmpdir })).toBe(path.join(tmpdir, 's3lync'));
  });
});

describe('defaultLocalPath', () => {
  const location = { xdgCacheHome: '/xdg', home: '/home/u', tmpdir: '/tmp' };

  it('is <cache root>/<bucket>/<key>', () => {
    expect(defaultLocalPath('bucket', 'a/b/c.txt', location)).toBe(
      path.join('/xdg', 's3lync', 'bucket', 'a', 'b', 'c.txt'),
    );
    expect(defaultLocalPath('bucket', 'k', { home: '/home/u', tmpdir: '/tmp' })).toBe(
      path.join('/home/u', '.cache', 's3lync', 'bucket', 'k'),
    );
    expect(defaultLocalPath('bucket', 'k', { tmpdir: '/tmp' })).toBe(
      path.join('/tmp', 's3lync', 'bucket', 'k'),
    );
  });

  it('drops the trailing slash of a prefix', () => {
    expect(defaultLocalPath('bucket', 'dir/', location)).toBe(
      path.join('/xdg', 's3lync', 'bucket', 'dir'),
    );
  });

  it.each(['../escape', 'a/../../x', 'a/..', '..'])('refuses %j', (key) => {
    const error = thrown(() => defaultLocalPath('bucket', key, location));
    expect(error).toBeInstanceOf(UnsafePathError);
    expect(error).toBeInstanceOf(LocalPathError);
    expect(error).toBeInstanceOf(S3lyncError);
    expect((error as UnsafePathError).path).toBe(path.join('/xdg', 's3lync', 'bucket'));
  });
});

describe('resolveKeyPath', () => {
  const root = path.join(path.sep, 'root', 'dir');

  it('maps nested keys inside the root', () => {
    expect(resolveKeyPath(root, 'a')).toBe(path.join(root, 'a'));
    expect(resolveKeyPath(root, 'a/b/c.txt')).toBe(path.join(root, 'a', 'b', 'c.txt'));
    expect(resolveKeyPath(root, 'with space/ü+%#?@:.txt')).toBe(
      path.join(root, 'with space', 'ü+%#?@:.txt'),
    );
  });

  it('accepts names that only contain dots', () => {
    expect(resolveKeyPath(root, '...')).toBe(path.join(root, '...'));
    expect(resolveKeyPath(root, 'a/..b/.hidden')).toBe(path.join(root, 'a', '..b', '.hidden'));
  });

  it('drops one trailing slash', () => {
    expect(resolveKeyPath(root, 'dir/')).toBe(path.join(root, 'dir'));
    expect(resolveKeyPath(root, 'a/b/')).toBe(path.join(root, 'a', 'b'));
  });

  it.each([
    ['a ".." segment', '../x'],
    ['a ".." segment in the middle', 'a/../../x'],
    ['a ".." segment at the end', 'a/..'],
    ['only ".."', '..'],
    ['an absolute key', '/x'],
    ['an absolute nested key', '/etc/passwd'],
    ['a NUL', 'a\0b'],
    ['an empty segment', 'a//b'],
    ['two trailing slashes', 'a//'],
    ['a "." segment', 'a/./b'],
    ['only "."', '.'],
    ['a leading "."', './a'],
    ['an empty key', ''],
    ['only a slash', '/'],
  ])('refuses %s (%j)', (_what, key) => {
    const error = thrown(() => resolveKeyPath(root, key));
    expect(error).toBeInstanceOf(UnsafePathError);
    expect((error as UnsafePathError).name).toBe('UnsafePathError');
    expect((error as UnsafePathError).path).toBe(root);
    expect((error as UnsafePathError).message).toContain(JSON.stringify(key));
  });

  it('never returns a path outside the root', () => {
    for (const key of ['a', 'a/b', 'x/y/z/', 'deep/er/file']) {
      const out = resolveKeyPath(root, key);
      expect(path.relative(root, out).startsWith('..')).toBe(false);
    }
  });
});

describe('expandHome', () => {
  const home = path.join(path.sep, 'home', 'user');

  it('expands ~ and ~/', () => {
    expect(expandHome('~', home)).toBe(home);
    expect(expandHome('~/data/file.txt', home)).toBe(path.join(home, 'data', 'file.txt'));
  });

  it('normalises the path', () => {
    expect(expandHome('~/a/../b/./c', home)).toBe(path.join(home, 'b', 'c'));
    expect(expandHome('/x/y/../z', home)).toBe(path.resolve('/x/z'));
  });

  it('makes relative paths absolute', () => {
    expect(expandHome('rel/file', home)).toBe(path.resolve('rel/file'));
  });

  it('leaves ~ inside a path and ~user alone', () => {
    expect(expandHome('/a/~/b', home)).toBe(path.resolve('/a/~/b'));
    expect(expandHome('~other/x', home)).toBe(path.resolve('~other/x'));
  });

  it('does not expand without a home', () => {
    expect(expandHome('~/x', undefined)).toBe(path.resolve('~/x'));
    expect(expandHome('~/x', '')).toBe(path.resolve('~/x'));
  });
});

describe('parseS3Uri: keys S3 would not store as given', () => {
  it('refuses a key over 1,024 bytes of UTF-8, counting bytes, not characters', () => {
    expect(parseS3Uri(`s3://bucket/${'a'.repeat(1024)}`).key).toHaveLength(1024);
    expect(() => parseS3Uri(`s3://bucket/${'a'.repeat(1025)}`)).toThrow(/1025 bytes/);
    // 513 × "é" is 513 characters but 1,026 bytes.
    expect(() => parseS3Uri(`s3://bucket/${'é'.repeat(513)}`)).toThrow(InvalidUriError);
  });

  it('refuses a lone surrogate, accepts a surrogate pair', () => {
    expect(() => parseS3Uri('s3://bucket/a\uD800b')).toThrow(/surrogate/);
    expect(() => parseS3Uri('s3://bucket/a\uDC00')).toThrow(/surrogate/);
    expect(parseS3Uri('s3://bucket/emoji-\u{1F600}').key).toBe('emoji-\u{1F600}');
  });
});

describe('tempName', () => {
  it('is hidden, short and of a fixed length whatever the target', () => {
    const name = tempName('0a1b2c3d', 4242, 'beef');
    expect(name).toBe('.s3lync-beef-4242-0a1b2c3d.tmp');
    // A 255-byte name beside it stays legal: the temp name never grows with the target's.
    expect(Buffer.byteLength(tempName('0a1b2c3d'))).toBeLessThan(40);
  });

  it('names the writing host and process, which tempFileOwner reads back', () => {
    expect(tempFileOwner(tempName('0a1b2c3d', 4242, 'beef'))).toEqual({ pid: 4242, host: 'beef' });
    expect(tempFileOwner(tempName('0a1b2c3d'))).toEqual({ pid: process.pid, host: HOST_TAG });
    // s3lync 0.1 names: a pid, no host.
    expect(tempFileOwner('.file.txt.4242-abc123.s3lync-tmp')).toEqual({
      pid: 4242,
      host: undefined,
    });
    expect(tempFileOwner('.file.txt.abc123.s3lync-tmp')).toBeUndefined();
    expect(tempFileOwner('file.txt')).toBeUndefined();
  });

  it('differs between random values', () => {
    expect(tempName('aaaa')).not.toBe(tempName('bbbb'));
  });
});

describe('isTempName', () => {
  it('matches the names tempName makes and those of s3lync 0.1, and nothing else', () => {
    expect(isTempName(tempName('abc123'))).toBe(true);
    expect(isTempName('.name.abc123.s3lync-tmp')).toBe(true);
    expect(isTempName('.x.123-abc.s3lync-tmp')).toBe(true);
    expect(isTempName('name.abc123.s3lync-tmp')).toBe(false);
    expect(isTempName('.name.s3lync-tmp.txt')).toBe(false);
    expect(isTempName('.s3lync-beef-12-ab.tmp.txt')).toBe(false);
    expect(isTempName('.hidden')).toBe(false);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [1024 * 1024, '1.0 MiB'],
    [1.5 * 1024 * 1024, '1.5 MiB'],
    [1024 ** 3, '1.0 GiB'],
    [2.25 * 1024 ** 4, '2.3 TiB'],
    [1024 ** 5, '1024.0 TiB'],
  ])('formats %d as %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('parseS3Uri: credentials with an extra colon', () => {
  it('is refused without echoing the secret, not read as an endpoint', () => {
    const uri = 's3://MYSECRETVALUE:AKID:x@host/bucket/key';
    expect(() => parseS3Uri(uri)).toThrow(InvalidUriError);
    expect(() => parseS3Uri(uri)).toThrow(/exactly SECRET_KEY:ACCESS_KEY/);
    try {
      parseS3Uri(uri);
    } catch (e) {
      expect(String(e)).not.toContain('MYSECRETVALUE');
    }
  });
});

describe('resized', () => {
  it('copies a column into a longer one of the same type, the rest zero', () => {
    const big = resized(BigInt64Array.of(1n, -2n), 4);
    expect(big).toBeInstanceOf(BigInt64Array);
    expect([...big]).toEqual([1n, -2n, 0n, 0n]);
    const bytes = resized(Uint8Array.of(7), 3);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([7, 0, 0]);
  });
});
