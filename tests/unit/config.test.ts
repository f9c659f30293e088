import os from 'node:os';

import { describe, expect, it } from 'vitest';

import {
  DEFAULT_MAX_WORKERS,
  parseFlag,
  parseLogLevel,
  parsePositiveInt,
  readEnvConfig,
} from '../../src/config.js';
import { ConfigError, S3lyncError } from '../../src/index.js';

/** Calls `fn`, expects a ConfigError, and returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toBeInstanceOf(S3lyncError);
    expect((error as ConfigError).name).toBe('ConfigError');
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('readEnvConfig', () => {
  it('has defaults for an empty environment', () => {
    const config = readEnvConfig({});
    expect(config.maxWorkers).toBe(8);
    expect(DEFAULT_MAX_WORKERS).toBe(8);
    expect(config.logLevel).toBeUndefined();
    expect(config.xdgCacheHome).toBeUndefined();
    expect(config.region).toBeUndefined();
    expect(config.home).toBe(os.homedir());
    expect(config.tmpdir).toBe(os.tmpdir());
    expect(config.connectTimeoutMs).toBeUndefined();
    expect(config.idleTimeoutMs).toBeUndefined();
  });

  it('reads XDG_CACHE_HOME and HOME', () => {
    const config = readEnvConfig({ XDG_CACHE_HOME: '/xdg', HOME: '/home/someone' });
    expect(config.xdgCacheHome).toBe('/xdg');
    expect(config.home).toBe('/home/someone');
  });

  it('treats empty strings as unset', () => {
    const config = readEnvConfig({
      S3LYNC_MAX_WORKERS: '',
      S3LYNC_LOG_LEVEL: '',
      S3LYNC_DEBUG: '',
      XDG_CACHE_HOME: '',
      HOME: '',
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
    });
    expect(config.maxWorkers).toBe(DEFAULT_MAX_WORKERS);
    expect(config.logLevel).toBeUndefined();
    expect(config.xdgCacheHome).toBeUndefined();
    expect(config.home).toBe(os.homedir());
    expect(config.region).toBeUndefined();
  });

  it('treats blank strings as unset', () => {
    const config = readEnvConfig({
      S3LYNC_MAX_WORKERS: '  ',
      XDG_CACHE_HOME: ' ',
      AWS_REGION: ' ',
    });
    expect(config.maxWorkers).toBe(DEFAULT_MAX_WORKERS);
    expect(config.xdgCacheHome).toBeUndefined();
    expect(config.region).toBeUndefined();
  });

  describe('S3LYNC_MAX_WORKERS', () => {
    it.each([
      ['1', 1],
      ['4', 4],
      ['16', 16],
      [' 32 ', 32],
    ])('accepts %j', (value, expected) => {
      expect(readEnvConfig({ S3LYNC_MAX_WORKERS: value }).maxWorkers).toBe(expected);
    });

    it.each(['abc', '0', '-1', '1.5', 'NaN', 'Infinity', '4 workers'])('rejects %j', (value) => {
      const message = configError(() => readEnvConfig({ S3LYNC_MAX_WORKERS: value }));
      expect(message).toContain('S3LYNC_MAX_WORKERS');
      expect(message).toContain(JSON.stringify(value));
    });
  });

  describe.each([
    ['S3LYNC_CONNECT_TIMEOUT_MS', 'connectTimeoutMs'],
    ['S3LYNC_IDLE_TIMEOUT_MS', 'idleTimeoutMs'],
  ] as const)('%s', (name, field) => {
    it.each([
      ['0', 0],
      ['250', 250],
      [' 5000 ', 5000],
      ['2147483647', 2147483647],
      ['', undefined],
      [' ', undefined],
    ])('reads %j as %j', (value, expected) => {
      expect(readEnvConfig({ [name]: value })[field]).toBe(expected);
    });

    it.each(['abc', '-1', '1.5', '1e3', '10s', 'Infinity', '2147483648'])(
      'rejects %j, naming the variable',
      (value) => {
        const message = configError(() => readEnvConfig({ [name]: value }));
        expect(message).toBe(
          `Expected ${name} to be a number of ms from 0 to 2147483647, got ${JSON.stringify(value)}`,
        );
      },
    );
  });

  describe('S3LYNC_LOG_LEVEL', () => {
    it.each([
      ['debug', 'debug'],
      ['DEBUG', 'debug'],
      ['info', 'info'],
      ['Info', 'info'],
      ['warn', 'warn'],
      ['WARNING', 'warn'],
      ['warning', 'warn'],
      ['error', 'error'],
      ['ERROR', 'error'],
      ['CRITICAL', 'error'],
      ['critical', 'error'],
      ['silent', 'silent'],
      [' INFO ', 'info'],
    ])('reads %j as %s', (value, level) => {
      expect(readEnvConfig({ S3LYNC_LOG_LEVEL: value }).logLevel).toBe(level);
    });

    it.each(['verbose', 'trace', '10', 'warnings'])('rejects %j', (value) => {
      const message = configError(() => readEnvConfig({ S3LYNC_LOG_LEVEL: value }));
      expect(message).toContain('S3LYNC_LOG_LEVEL');
      expect(message).toContain(JSON.stringify(value));
    });
  });

  describe('S3LYNC_DEBUG', () => {
    it.each(['1', 'true', 'TRUE', 'yes', 'Yes', 'on'])('%j turns on debug', (value) => {
      expect(readEnvConfig({ S3LYNC_DEBUG: value }).logLevel).toBe('debug');
    });

    it('overrides S3LYNC_LOG_LEVEL when on', () => {
      expect(readEnvConfig({ S3LYNC_DEBUG: '1', S3LYNC_LOG_LEVEL: 'ERROR' }).logLevel).toBe(
        'debug',
      );
    });

    it.each(['0', 'false', 'FALSE', 'no', 'off'])('%j leaves the level unchanged', (value) => {
      expect(readEnvConfig({ S3LYNC_DEBUG: value }).logLevel).toBeUndefined();
      expect(readEnvConfig({ S3LYNC_DEBUG: value, S3LYNC_LOG_LEVEL: 'WARNING' }).logLevel).toBe(
        'warn',
      );
    });

    it.each(['maybe', '2', 'enabled'])('rejects %j', (value) => {
      const message = configError(() => readEnvConfig({ S3LYNC_DEBUG: value }));
      expect(message).toContain('S3LYNC_DEBUG');
      expect(message).toContain(JSON.stringify(value));
    });
  });

  describe('region', () => {
    it('prefers AWS_REGION over AWS_DEFAULT_REGION', () => {
      expect(
        readEnvConfig({ AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-east-2' }).region,
      ).toBe('eu-west-1');
    });

    it('falls back to AWS_DEFAULT_REGION', () => {
      expect(readEnvConfig({ AWS_DEFAULT_REGION: 'us-east-2' }).region).toBe('us-east-2');
      expect(readEnvConfig({ AWS_REGION: '', AWS_DEFAULT_REGION: 'us-east-2' }).region).toBe(
        'us-east-2',
      );
    });
  });
});

describe('parseLogLevel', () => {
  it('accepts Python and Node names in any case', () => {
    expect(parseLogLevel('WARNING', 'x')).toBe('warn');
    expect(parseLogLevel('Critical', 'x')).toBe('error');
    expect(parseLogLevel('fatal', 'x')).toBe('error');
    expect(parseLogLevel('off', 'x')).toBe('silent');
    expect(parseLogLevel('none', 'x')).toBe('silent');
  });

  it('names the source and the value when it fails', () => {
    const message = configError(() => parseLogLevel('loud', 'level'));
    expect(message).toContain('level');
    expect(message).toContain('"loud"');
    expect(message).toContain('WARNING');
  });
});

describe('parseFlag', () => {
  it('reads true and false values', () => {
    expect(parseFlag('YES', 'F')).toBe(true);
    expect(parseFlag(' 1 ', 'F')).toBe(true);
    expect(parseFlag('', 'F')).toBe(false);
    expect(parseFlag('No', 'F')).toBe(false);
  });

  it('names the source and the value when it fails', () => {
    const message = configError(() => parseFlag('perhaps', 'MY_FLAG'));
    expect(message).toContain('MY_FLAG');
    expect(message).toContain('"perhaps"');
  });
});

describe('parsePositiveInt', () => {
  it.each([
    [1, 1],
    [8, 8],
    ['3', 3],
    [' 12 ', 12],
  ])('accepts %j', (value, expected) => {
    expect(parsePositiveInt(value, 'maxConcurrency')).toBe(expected);
  });

  it.each([
    [0, '0 (number)'],
    [-1, '-1 (number)'],
    [1.5, '1.5 (number)'],
    ['abc', '"abc" (string)'],
    ['', '"" (string)'],
    ['0', '"0" (string)'],
    [true, 'true (boolean)'],
    [null, 'null (object)'],
    [[2], '[2] (object)'],
  ])('rejects %j, naming the option, the value and its type', (value, shown) => {
    const message = configError(() => parsePositiveInt(value, 'maxConcurrency'));
    expect(message).toContain('maxConcurrency');
    expect(message).toContain('integer >= 1');
    expect(message).toContain(`got ${shown}`);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY])('rejects %d', (value) => {
    const message = configError(() => parsePositiveInt(value, 'opt'));
    expect(message).toContain('opt');
    expect(message).toContain('(number)');
  });

  it('rejects undefined', () => {
    const message = configError(() => parsePositiveInt(undefined, 'opt'));
    expect(message).toContain('opt');
    expect(message).toContain('(undefined)');
  });
});

describe('parsePositiveInt: only plain decimal strings', () => {
  it.each(['0x10', '1e2', ' 1.0 ', '+3'])('rejects %j', (v) => {
    expect(() => parsePositiveInt(v, 'S3LYNC_MAX_WORKERS')).toThrow(ConfigError);
  });
  it('accepts surrounding spaces', () => {
    expect(parsePositiveInt(' 12 ', 'S3LYNC_MAX_WORKERS')).toBe(12);
  });
});
