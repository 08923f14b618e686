import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDataDir, MIN_FREE_BYTES, NODE_FILE_SYSTEM, storageFaultOf, type DataDirFileSystem } from '../../local/data-dir.js';

const scratch = mkdtempSync(join(tmpdir(), 'gpujobs-data-dir-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const fault = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code });

/** The real file system, with one operation failing as a sick disk fails. */
function failing(overrides: Partial<DataDirFileSystem>): DataDirFileSystem {
  return { ...NODE_FILE_SYSTEM, ...overrides };
}

describe('checking the data dir at start', () => {
  it('accepts a writable directory with room, creating it', () => {
    // GIVEN a directory that does not exist yet, on a disk with room
    const dataDir = join(scratch, 'fresh', 'data');
    // WHEN it is checked THEN it is created and nothing is refused
    expect(() => checkDataDir(dataDir)).not.toThrow();
  });

  it.each([
    ['ENOSPC', 'no space left on device, write', 'the disk is full (ENOSPC)'],
    ['EROFS', 'read-only file system, open', 'the file system is read-only (EROFS)'],
    ['EACCES', 'permission denied, open', 'permission is denied (EACCES)'],
    ['EIO', 'i/o error, write', 'the disk reported an input/output error (EIO)'],
  ])('names %s when the test write fails, with the directory and what to do', (code, message, cause) => {
    // GIVEN a disk whose writes fail with this error
    const fileSystem = failing({
      probeWrite: () => {
        throw fault(code, message);
      },
    });
    // WHEN the data dir is checked THEN the refusal names the directory, the cause and the way out
    expect(() => checkDataDir(join(scratch, 'sick'), fileSystem)).toThrow(
      `The data dir ${join(scratch, 'sick')} cannot be used: ${cause} while writing a test file in it. Free space or fix its permissions, or set GPUJOBS_DATA_DIR to another directory.`,
    );
  });

  it('refuses a disk with less free space than the stores need, saying how much is free', () => {
    // GIVEN a disk with 1 MiB free
    const fileSystem = failing({ freeBytes: () => 1024 * 1024 });
    // WHEN the data dir is checked THEN it is refused as full, with the figures
    expect(() => checkDataDir(join(scratch, 'nearly-full'), fileSystem)).toThrow(
      /the disk is full or nearly \(1\.0 MiB free; local mode needs at least 64\.0 MiB\)/,
    );
    expect(MIN_FREE_BYTES).toBe(64 * 1024 * 1024);
  });

  it('names a path that runs through a regular file', () => {
    // GIVEN a data dir path under a file
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    // WHEN it is checked THEN ENOTDIR is named, while creating it
    expect(() => checkDataDir(join(file, 'data'))).toThrow(/a part of the path is a file, not a directory \(ENOTDIR\) while creating it/);
  });
});

describe('describing a storage error', () => {
  it('recognises LevelDB messages that carry no error code', () => {
    // LevelDB reports through dynalite as plain messages
    expect(storageFaultOf(new Error('IO error: /data/dynamodb/000003.log: No space left on device'))).toBe('the disk is full (ENOSPC)');
    expect(storageFaultOf(new Error('IO error: /data/dynamodb/LOCK: Read-only file system'))).toBe('the file system is read-only (EROFS)');
    expect(storageFaultOf(new Error('IO error: /data/dynamodb/000005.ldb: Input/output error'))).toBe(
      'the disk reported an input/output error (EIO)',
    );
  });

  it('leaves other errors alone', () => {
    expect(storageFaultOf(new Error('connect ECONNREFUSED 127.0.0.1:4000'))).toBeUndefined();
  });
});
