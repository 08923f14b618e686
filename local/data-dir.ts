/**
 * The data dir's health, in the owner's words. Local mode keeps everything that must survive a
 * restart under one directory (DynamoDB, logs, events, job definitions), so a full, read-only or
 * unwritable disk shows up first as a cryptic failure somewhere else (a stand-in that exits, then
 * `ECONNREFUSED`; `ENOENT` on a sub-directory). Start-up checks the directory itself and names the
 * cause; a fault while running is described the same way.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Below this much free space start-up refuses: the stores would fail within the first jobs. */
export const MIN_FREE_BYTES = 64 * 1024 * 1024;

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The file system operations the check needs; tests inject faults through them. */
export interface DataDirFileSystem {
  mkdir(path: string): void;
  /** Writes, syncs and removes a small file, so a full or read-only disk fails here and not later. */
  probeWrite(path: string): void;
  freeBytes(path: string): number | undefined;
}

const PROBE_BYTES = Buffer.alloc(4096, 0x2e);

export const NODE_FILE_SYSTEM: DataDirFileSystem = {
  mkdir: (path) => {
    try {
      mkdirSync(path, { recursive: true });
    } catch (error) {
      // A recursive mkdir reports ENOENT for any failure below an existing ancestor (a read-only
      // file system included); creating the first missing level alone gives the real cause.
      if (errorCode(error) !== 'ENOENT') throw error;
      let missing = path;
      while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
      mkdirSync(missing);
      throw error;
    }
  },
  probeWrite: (path) => {
    const descriptor = openSync(path, 'w');
    try {
      writeSync(descriptor, PROBE_BYTES);
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
      rmSync(path, { force: true });
    }
  },
  freeBytes: (path) => {
    try {
      const stats = statfsSync(path);
      return Number(stats.bavail) * Number(stats.bsize);
    } catch {
      // statfs is missing on some platforms and file systems; the probe write still checks.
      return undefined;
    }
  },
};

const errorCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
    ? (error as { code: string }).code
    : undefined;

/** The cause of a storage error, or undefined for one that is not about the disk. */
export function storageFaultOf(error: unknown): string | undefined {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOSPC' || /no space left on device/i.test(message)) return 'the disk is full (ENOSPC)';
  if (code === 'EDQUOT' || /disk quota exceeded/i.test(message)) return 'the disk quota is exhausted (EDQUOT)';
  if (code === 'EROFS' || /read-only file system/i.test(message)) return 'the file system is read-only (EROFS)';
  if (code === 'EIO' || /\bIO error\b|input\/output error/i.test(message)) return 'the disk reported an input/output error (EIO)';
  if (code === 'EACCES' || code === 'EPERM' || /permission denied/i.test(message)) return `permission is denied (${code ?? 'EACCES'})`;
  if (code === 'ENOTDIR') return 'a part of the path is a file, not a directory (ENOTDIR)';
  return undefined;
}

/** The storage cause in words when it is one, else the error's own message. */
function describeStorageError(error: unknown): string {
  return storageFaultOf(error) ?? (error instanceof Error ? error.message : String(error));
}

/**
 * Names a failed write to the data dir in words a person can act on: a full disk or a failing
 * device must read as such in a job's failure reason or a request's error, not as a bare errno.
 * `what` says what was being written, e.g. "the log stream …".
 */
export function describeWriteFailure(error: unknown, what: string): string {
  return `writing ${what} in the local data dir failed: ${describeStorageError(error)}`;
}

/**
 * Creates the data dir if needed and checks it can be written and has room; throws DataDirError
 * naming the directory, the cause and what to do.
 */
export function checkDataDir(dataDir: string, fileSystem: DataDirFileSystem = NODE_FILE_SYSTEM): void {
  const refuse = (error: unknown, doing: string): never => {
    throw new DataDirError(
      `The data dir ${dataDir} cannot be used: ${describeStorageError(error)} while ${doing}. Free space or fix its permissions, or set GPUJOBS_DATA_DIR to another directory.`,
      errorCode(error),
      { cause: error },
    );
  };
  try {
    fileSystem.mkdir(dataDir);
  } catch (error) {
    refuse(error, 'creating it');
  }
  try {
    fileSystem.probeWrite(join(dataDir, `.write-check-${process.pid}`));
  } catch (error) {
    refuse(error, 'writing a test file in it');
  }
  const free = fileSystem.freeBytes(dataDir);
  if (free !== undefined && free < MIN_FREE_BYTES) {
    throw new DataDirError(
      `The data dir ${dataDir} cannot be used: the disk is full or nearly (${formatBytes(free)} free; local mode needs at least ${formatBytes(MIN_FREE_BYTES)}). Free space, or set GPUJOBS_DATA_DIR to another directory.`,
      'ENOSPC',
    );
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}
