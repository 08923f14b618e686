/**
 * Pages through an append-only JSON Lines file by byte offset, forward or backward, in bounded
 * chunks: a page costs the bytes it returns (plus one chunk), however long the file has grown.
 * The log store and the event log both keep their records this way.
 */

export interface JsonLinesReaderOptions<T> {
  /** Reads into `buffer` from `position` of the open file; returns the bytes read. */
  readonly readAt: (fd: number, buffer: Buffer, position: number) => number;
  /** What a record costs against `maxPageBytes`. */
  readonly costOf: (record: T) => number;
  /** A page stops before the record that would take it over this (its first record is always served). */
  readonly maxPageBytes: number;
  /** Bytes of file one page looks through at most, kept or not. */
  readonly maxScanBytes: number;
}

const READ_CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

export class JsonLinesReader<T> {
  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly options: JsonLinesReaderOptions<T>,
  ) {}

  /** Offsets handed out in tokens are always at the start of a line (or the end of the file). */
  isLineStart(offset: number): boolean {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.size) return false;
    if (offset === 0) return true;
    const before = Buffer.alloc(1);
    return this.options.readAt(this.fd, before, offset - 1) === 1 && before[0] === NEWLINE;
  }

  /** The end of the last complete line: a line still being written is not read yet. */
  lastLineEnd(): number {
    for (let cursor = this.size; cursor > 0; ) {
      const from = Math.max(0, cursor - READ_CHUNK_BYTES);
      const chunk = this.read(from, cursor - from);
      const newline = chunk.lastIndexOf(NEWLINE);
      if (newline >= 0) return from + newline + 1;
      cursor = from;
    }
    return 0;
  }

  /** Records from `start` on, oldest first; `end` is where the next page starts. */
  forward(start: number, limit: number, keep: (record: T) => boolean = () => true): { records: T[]; end: number } {
    const { costOf, maxPageBytes, maxScanBytes } = this.options;
    const records: T[] = [];
    let bytes = 0;
    let end = start;
    let pending: Buffer = Buffer.alloc(0);
    let cursor = start;
    while (records.length < limit && end - start < maxScanBytes && cursor < this.size) {
      const chunk = this.read(cursor, Math.min(READ_CHUNK_BYTES, this.size - cursor));
      if (chunk.length === 0) break;
      cursor += chunk.length;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let lineStart = 0;
      for (let newline = pending.indexOf(NEWLINE); newline >= 0; newline = pending.indexOf(NEWLINE, lineStart)) {
        const record = parseLine<T>(pending, lineStart, newline);
        if (record !== undefined && keep(record)) {
          const cost = costOf(record);
          if (records.length > 0 && bytes + cost > maxPageBytes) return { records, end };
          records.push(record);
          bytes += cost;
        }
        lineStart = newline + 1;
        end = cursor - pending.length + lineStart;
        if (records.length >= limit || end - start >= maxScanBytes) return { records, end };
      }
      pending = pending.subarray(lineStart);
    }
    return { records, end };
  }

  /** Records before `end`, oldest first; `start` is where the previous page ends. */
  backward(end: number, limit: number, keep: (record: T) => boolean = () => true): { records: T[]; start: number } {
    const { costOf, maxPageBytes, maxScanBytes } = this.options;
    const newestFirst: T[] = [];
    let bytes = 0;
    let start = end;
    // `pending` holds the bytes from `cursor` to `start`; `start` is a line start, so they end with a newline.
    let pending: Buffer = Buffer.alloc(0);
    let cursor = end;
    reading: while (newestFirst.length < limit && end - start < maxScanBytes && cursor > 0) {
      const from = Math.max(0, cursor - READ_CHUNK_BYTES);
      const chunk = this.read(from, cursor - from);
      cursor = from;
      pending = pending.length === 0 ? chunk : Buffer.concat([chunk, pending]);
      let lineEnd = pending.length - 1;
      for (;;) {
        // Buffer.lastIndexOf counts a negative offset from the end, so the first byte is checked apart.
        const newline = lineEnd <= 0 ? -1 : pending.lastIndexOf(NEWLINE, lineEnd - 1);
        // A line whose start is not read yet waits for the next chunk, unless the file starts there.
        if (newline < 0 && cursor > 0) break;
        const lineStart = newline + 1;
        const record = parseLine<T>(pending, lineStart, lineEnd);
        if (record !== undefined && keep(record)) {
          const cost = costOf(record);
          if (newestFirst.length > 0 && bytes + cost > maxPageBytes) break reading;
          newestFirst.push(record);
          bytes += cost;
        }
        start = cursor + lineStart;
        lineEnd = newline;
        if (newestFirst.length >= limit || end - start >= maxScanBytes || newline < 0) break reading;
      }
      pending = pending.subarray(0, lineEnd + 1);
    }
    return { records: newestFirst.reverse(), start };
  }

  private read(position: number, length: number): Buffer {
    const buffer = Buffer.alloc(length);
    const read = this.options.readAt(this.fd, buffer, position);
    return read === length ? buffer : buffer.subarray(0, read);
  }
}

function parseLine<T>(buffer: Buffer, start: number, end: number): T | undefined {
  if (end <= start) return undefined;
  try {
    return JSON.parse(buffer.toString('utf8', start, end)) as T;
  } catch {
    // A line cut short by a crash mid-write is skipped; the rest of the file stays readable.
    return undefined;
  }
}
