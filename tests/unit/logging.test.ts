import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';

import {
  ConfigError,
  configureLogging,
  getLogger,
  resetLogging,
  type Logger,
} from '../../src/index.js';
import { registerSecret } from '../../src/logging.js';
import { redact } from '../../src/logging.js';

type Level = 'debug' | 'info' | 'warn' | 'error';

interface Captured {
  logger: Logger;
  lines: { level: Level; line: string }[];
}

function capture(): Captured {
  const lines: Captured['lines'] = [];
  const push =
    (level: Level) =>
    (line: string): void => {
      lines.push({ level, line });
    };
  return {
    lines,
    logger: { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') },
  };
}

function logEveryLevel(logger: Logger): void {
  logger.debug('d');
  logger.info('i');
  logger.warn('w');
  logger.error('e');
}

let stderrWrite: MockInstance<typeof process.stderr.write>;

beforeEach(() => {
  resetLogging();
  vi.unstubAllEnvs();
  vi.stubEnv('S3LYNC_DEBUG', undefined);
  vi.stubEnv('S3LYNC_LOG_LEVEL', undefined);
  stderrWrite = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  resetLogging();
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

function stderrText(): string {
  return stderrWrite.mock.calls.map((call) => String(call[0])).join('');
}

describe('defaults', () => {
  it('is silent when neither configured nor asked for by the environment', () => {
    logEveryLevel(getLogger('core'));
    expect(stderrWrite).not.toHaveBeenCalled();
  });

  it('writes to stderr at info once configured without a sink', () => {
    configureLogging();
    logEveryLevel(getLogger('core'));
    const text = stderrText();
    expect(text).not.toMatch(/\bd\n/);
    expect(text).toContain('INFO  [s3lync:core] i\n');
    expect(text).toContain('WARN  [s3lync:core] w\n');
    expect(text).toContain('ERROR [s3lync:core] e\n');
    expect(stderrWrite).toHaveBeenCalledTimes(3);
  });
});

describe('configureLogging', () => {
  it('sends lines to the given logger, with the logger name', () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    getLogger('core').info('hello', 'world');
    expect(lines).toEqual([{ level: 'info', line: '[s3lync:core] hello world' }]);
    expect(stderrWrite).not.toHaveBeenCalled();
  });

  it.each<[string, Level[]]>([
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['warn', ['warn', 'error']],
    ['WARNING', ['warn', 'error']],
    ['error', ['error']],
    ['CRITICAL', ['error']],
    ['silent', []],
  ])('level %s writes %j', (level, expected) => {
    const { logger, lines } = capture();
    configureLogging({ level, logger });
    logEveryLevel(getLogger('x'));
    expect(lines.map((l) => l.level)).toEqual(expected);
  });

  it('defaults to info', () => {
    const { logger, lines } = capture();
    configureLogging({ logger });
    logEveryLevel(getLogger('x'));
    expect(lines.map((l) => l.level)).toEqual(['info', 'warn', 'error']);
  });

  it('throws ConfigError for an unknown level', () => {
    expect(() => {
      configureLogging({ level: 'loud' });
    }).toThrow(ConfigError);
  });

  it('applies to loggers created before it was called', () => {
    const log = getLogger('early');
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    log.debug('now visible');
    expect(lines).toEqual([{ level: 'debug', line: '[s3lync:early] now visible' }]);
  });

  it('is forgotten by resetLogging', () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    resetLogging();
    logEveryLevel(getLogger('x'));
    expect(lines).toEqual([]);
    expect(stderrWrite).not.toHaveBeenCalled();
  });
});

describe('getLogger', () => {
  it('prefixes names with s3lync:', () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    getLogger('client').warn('a');
    getLogger('s3lync:core').warn('b');
    expect(lines.map((l) => l.line)).toEqual(['[s3lync:client] a', '[s3lync:core] b']);
  });

  it("without a name is the package's root logger, as Python's get_logger()", () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    getLogger().info('root');
    expect(lines.map((l) => l.line)).toEqual(['[s3lync] root']);
  });

  it('renders arguments: strings as is, errors as name and message, objects as JSON', () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    getLogger('x').error('failed', 'text', new TypeError('boom'), { a: 1 }, 2, [1, 'b']);
    expect(lines[0]?.line).toBe('[s3lync:x] failed text TypeError: boom {"a":1} 2 [1,"b"]');
  });

  it('does not throw on an argument JSON cannot render', () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    getLogger('x').info('value', circular, 10n);
    expect(lines[0]?.line).toBe('[s3lync:x] value [object Object] 10');
  });
});

describe('environment', () => {
  it.each(['1', 'true', 'yes'])('S3LYNC_DEBUG=%s turns on debug on stderr', (value) => {
    vi.stubEnv('S3LYNC_DEBUG', value);
    resetLogging();
    getLogger('env').debug('from env');
    expect(stderrText()).toContain('DEBUG [s3lync:env] from env\n');
  });

  it('S3LYNC_DEBUG=0 stays silent', () => {
    vi.stubEnv('S3LYNC_DEBUG', '0');
    resetLogging();
    logEveryLevel(getLogger('env'));
    expect(stderrWrite).not.toHaveBeenCalled();
  });

  it('honours S3LYNC_LOG_LEVEL, Python names included', () => {
    vi.stubEnv('S3LYNC_LOG_LEVEL', 'WARNING');
    resetLogging();
    logEveryLevel(getLogger('env'));
    const text = stderrText();
    expect(stderrWrite).toHaveBeenCalledTimes(2);
    expect(text).toContain('WARN  [s3lync:env] w\n');
    expect(text).toContain('ERROR [s3lync:env] e\n');
  });

  it('lets S3LYNC_DEBUG win over S3LYNC_LOG_LEVEL', () => {
    vi.stubEnv('S3LYNC_LOG_LEVEL', 'ERROR');
    vi.stubEnv('S3LYNC_DEBUG', '1');
    resetLogging();
    logEveryLevel(getLogger('env'));
    expect(stderrWrite).toHaveBeenCalledTimes(4);
  });

  it('does not throw for an invalid S3LYNC_LOG_LEVEL, and stays silent', () => {
    vi.stubEnv('S3LYNC_LOG_LEVEL', 'not-a-level');
    resetLogging();
    expect(() => {
      logEveryLevel(getLogger('env'));
    }).not.toThrow();
    expect(stderrWrite).not.toHaveBeenCalled();
  });

  it('does not throw for an invalid S3LYNC_DEBUG', () => {
    vi.stubEnv('S3LYNC_DEBUG', 'garbage');
    resetLogging();
    expect(() => {
      logEveryLevel(getLogger('env'));
    }).not.toThrow();
  });

  it('is overridden by configureLogging', () => {
    vi.stubEnv('S3LYNC_DEBUG', '1');
    const { logger, lines } = capture();
    configureLogging({ level: 'error', logger });
    logEveryLevel(getLogger('env'));
    expect(lines.map((l) => l.level)).toEqual(['error']);
    expect(stderrWrite).not.toHaveBeenCalled();
  });
});

describe('secrets', () => {
  const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

  beforeEach(() => {
    registerSecret(SECRET);
  });

  it('redact replaces every occurrence with ***', () => {
    expect(redact(`a ${SECRET} b ${SECRET}`)).toBe('a *** b ***');
    expect(redact('nothing here')).toBe('nothing here');
  });

  it('never logs a registered secret: message, string, Error and object arguments', () => {
    const { logger, lines } = capture();
    configureLogging({ level: 'debug', logger });
    const log = getLogger('core');
    log.debug(`uri s3://${SECRET}:AKID@host/b/k`);
    log.info('creds', SECRET);
    log.warn('failed', new Error(`signature mismatch for ${SECRET}`));
    log.error('config', { credentials: { secretAccessKey: SECRET, accessKeyId: 'AKID' } });
    log.error('list', [SECRET, { nested: [SECRET] }]);
    expect(lines).toHaveLength(5);
    for (const { line } of lines) {
      expect(line).not.toContain(SECRET);
      expect(line).toContain('***');
    }
    expect(lines[3]?.line).toContain('AKID');
  });

  it('never writes a registered secret to stderr either', () => {
    vi.stubEnv('S3LYNC_DEBUG', '1');
    resetLogging();
    const error = new Error('bad');
    error.name = `Err ${SECRET}`;
    getLogger('core').debug(SECRET, error, { s: SECRET });
    expect(stderrWrite).toHaveBeenCalledTimes(1);
    expect(stderrText()).not.toContain(SECRET);
  });

  it('ignores secrets too short to mask safely', () => {
    registerSecret('ab');
    expect(redact('ab cab')).toBe('ab cab');
  });
});

describe('environment: an unusable S3LYNC_LOG_LEVEL does not cancel S3LYNC_DEBUG', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    resetLogging();
  });
  it('still logs at debug', () => {
    vi.stubEnv('S3LYNC_LOG_LEVEL', 'loud');
    vi.stubEnv('S3LYNC_DEBUG', '1');
    resetLogging();
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      getLogger('env').debug('visible');
      expect(write.mock.calls.map((c) => String(c[0])).join('')).toContain('visible');
    } finally {
      write.mockRestore();
    }
  });
});
