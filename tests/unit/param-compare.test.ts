/** "Also compare these": the rule of each parameter, the option's check, and the flag. */
import { describe, expect, it } from 'vitest';

import { parseCli } from '../../src/cli/args.js';
import { UsageError } from '../../src/cli/command.js';
import { ConfigError } from '../../src/exceptions.js';
import {
  checkCompareParams,
  paramDifference,
  storedParams,
  type ComparableParam,
} from '../../src/param-compare.js';

const stored = storedParams({
  ContentType: 'text/html',
  CacheControl: 'max-age=60',
  Metadata: { team: 'web', 's3lync-md5': 'abc', 's3lync-part-size': '5' },
});
const ALL: ComparableParam[] = [
  'ContentType',
  'CacheControl',
  'ContentEncoding',
  'ContentDisposition',
  'ContentLanguage',
  'Metadata',
  'StorageClass',
  'ServerSideEncryption',
];

describe('paramDifference', () => {
  const same = { ContentType: 'text/html', CacheControl: 'max-age=60', Metadata: { Team: 'web' } };

  it('agrees when what the upload sends is what the object has (metadata names as S3 stores them)', () => {
    expect(stored.Metadata).toEqual({ team: 'web' });
    expect(paramDifference(same, stored, ALL)).toBeUndefined();
  });

  it('names the first field that differs, an absent value included', () => {
    expect(paramDifference({ ...same, CacheControl: 'no-cache' }, stored, ALL)).toEqual({
      field: 'CacheControl',
      wanted: 'no-cache',
      stored: 'max-age=60',
    });
    expect(
      paramDifference({ ContentType: 'text/html', Metadata: { team: 'web' } }, stored, ALL),
    ).toMatchObject({
      field: 'CacheControl',
      wanted: undefined,
    });
    expect(paramDifference({ ...same, Metadata: { team: 'data' } }, stored, ALL)).toMatchObject({
      field: 'Metadata',
    });
    expect(paramDifference({ ...same, Metadata: {} }, stored, ALL)).toMatchObject({
      field: 'Metadata',
    });
    expect(paramDifference({ ...same, ContentEncoding: 'gzip' }, stored, ALL)).toMatchObject({
      field: 'ContentEncoding',
    });
  });

  it('compares only the fields named', () => {
    expect(
      paramDifference({ ...same, CacheControl: 'no-cache' }, stored, ['Metadata']),
    ).toBeUndefined();
    expect(paramDifference({}, stored, [])).toBeUndefined();
  });

  it('leaves to the server what the upload does not set: type, class, encryption', () => {
    const untyped = { CacheControl: 'max-age=60', Metadata: { team: 'web' } };
    expect(
      paramDifference(untyped, stored, ['ContentType', 'StorageClass', 'ServerSideEncryption']),
    ).toBeUndefined();
    expect(paramDifference({ StorageClass: 'STANDARD' }, stored, ['StorageClass'])).toBeUndefined();
    expect(paramDifference({ StorageClass: 'STANDARD_IA' }, stored, ['StorageClass'])).toEqual({
      field: 'StorageClass',
      wanted: 'STANDARD_IA',
      stored: 'STANDARD',
    });
    expect(
      paramDifference({ ServerSideEncryption: 'AES256' }, stored, ['ServerSideEncryption']),
    ).toMatchObject({
      field: 'ServerSideEncryption',
    });
  });
});

describe('compareParams', () => {
  it('is checked: known names only', () => {
    expect(checkCompareParams(['Metadata', 'Metadata', 'CacheControl'], 'compareParams')).toEqual([
      'Metadata',
      'CacheControl',
    ]);
    expect(() => checkCompareParams(['Tagging'], 'compareParams')).toThrow(ConfigError);
    expect(() => checkCompareParams('Metadata', 'compareParams')).toThrow(
      'Expected `compareParams` to be an array of ContentType',
    );
  });

  it('--compare-params takes a list, for uploads only', () => {
    const cmd = parseCli([
      'sync',
      './site',
      's3://bkt/site/',
      '--compare-params',
      'CacheControl, Metadata',
    ]);
    expect(cmd.kind === 'sync' && cmd.transfer.compareParams).toEqual(['CacheControl', 'Metadata']);
    expect(cmd.kind === 'sync' && cmd.transfer.uploadParams).toBeUndefined();
    expect(() =>
      parseCli(['sync', './site', 's3://bkt/site/', '--compare-params', 'Tagging']),
    ).toThrow(UsageError);
    expect(() =>
      parseCli(['sync', 's3://bkt/site/', './site', '--compare-params', 'Metadata']),
    ).toThrow('only an upload sets object parameters');
  });
});
