/** `--sse-c-key` (where the key is read from, never echoed) and `--follow-symlinks`. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseCli } from '../../src/cli/args.js';
import { UsageError, type CliCommand, type TransferArgs } from '../../src/cli/command.js';
import { HELP } from '../../src/cli/help.js';
import { readCustomerKey } from '../../src/cli/sse-c-key.js';
import { ConfigError } from '../../src/exceptions.js';

const RAW = Buffer.from('0123456789abcdef0123456789ABCDEF');
const B64 = RAW.toString('base64');

function transfer(argv: string[]): TransferArgs {
  const cmd = parseCli(argv);
  if (cmd.kind !== 'cp' && cmd.kind !== 'sync') throw new Error(`not a transfer: ${cmd.kind}`);
  return cmd.transfer;
}

function globalOf(cmd: CliCommand): Extract<CliCommand, { global: unknown }>['global'] {
  if (!('global' in cmd)) throw new Error(`no global options: ${cmd.kind}`);
  return cmd.global;
}

describe('--sse-c-key', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 's3lync-ssec-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names a file or an environment variable, for cp, sync and cat', () => {
    expect(
      globalOf(parseCli(['cp', '--sse-c-key', 'file:///k', 'a', 's3://bkt/a'])).sseCustomerKey,
    ).toEqual({
      file: '/k',
    });
    expect(
      globalOf(parseCli(['sync', 's3://bkt/p/', 'd', '--sse-c-key=fileb://k.bin'])).sseCustomerKey,
    ).toEqual({
      file: 'k.bin',
    });
    expect(
      globalOf(parseCli(['cat', '--sse-c-key', 'env:MY_KEY', 's3://bkt/a'])).sseCustomerKey,
    ).toEqual({
      env: 'MY_KEY',
    });
    expect(globalOf(parseCli(['cp', 'a', 's3://bkt/a'])).sseCustomerKey).toBeUndefined();
    expect(() => parseCli(['ls', '--sse-c-key', 'env:K', 's3://bkt/'])).toThrow(UsageError);
  });

  it('refuses a key written on the command line, without repeating it', () => {
    let error: unknown;
    try {
      parseCli(['cp', '--sse-c-key', B64, 'a', 's3://bkt/a']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/file:\/\/PATH or env:NAME/);
    expect((error as Error).message).not.toContain(B64);
  });

  it('reads 32 bytes or their base64 from a file, or a variable, S3LYNC_SSE_C_KEY by default', async () => {
    const raw = path.join(dir, 'raw.key');
    const text = path.join(dir, 'b64.key');
    const bad = path.join(dir, 'bad.key');
    await writeFile(raw, RAW);
    await writeFile(text, `${B64}\n`);
    await writeFile(bad, 'too short a secret');
    for (const file of [raw, text]) {
      expect(readCustomerKey({ file }, {})?.fields.SSECustomerKey).toBe(B64);
    }
    expect(readCustomerKey({ env: 'K' }, { K: B64 })?.fields.SSECustomerKey).toBe(B64);
    expect(readCustomerKey(undefined, { S3LYNC_SSE_C_KEY: B64 })?.fields.SSECustomerKey).toBe(B64);
    expect(readCustomerKey(undefined, {})).toBeUndefined();
    expect(() => readCustomerKey({ env: 'K' }, {})).toThrow('env:K: the variable is not set');
    expect(() => readCustomerKey({ file: bad }, {})).toThrow(ConfigError);
    expect(() => readCustomerKey({ file: bad }, {})).not.toThrow('too short a secret');
  });

  it('is in the help of cp, sync and cat', () => {
    for (const command of ['cp', 'sync', 'cat'] as const)
      expect(HELP[command]).toContain('--sse-c-key');
  });
});

describe('--follow-symlinks / --no-follow-symlinks', () => {
  it('the last one given wins; neither leaves the library default', () => {
    expect(transfer(['sync', './a', 's3://bkt/p/']).followSymlinks).toBeUndefined();
    expect(transfer(['sync', '--follow-symlinks', './a', 's3://bkt/p/']).followSymlinks).toBe(true);
    expect(transfer(['cp', './a', 's3://bkt/p/', '--no-follow-symlinks']).followSymlinks).toBe(
      false,
    );
    expect(
      transfer(['sync', '--no-follow-symlinks', '--follow-symlinks', 's3://bkt/p/', './a'])
        .followSymlinks,
    ).toBe(true);
    expect(() => parseCli(['ls', '--follow-symlinks', 's3://bkt/'])).toThrow(UsageError);
    for (const command of ['cp', 'sync'] as const) {
      expect(HELP[command]).toContain('--follow-symlinks');
      expect(HELP[command]).toContain('--no-follow-symlinks');
    }
  });
});
