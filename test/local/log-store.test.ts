import { appendFileSync, mkdtempSync, readdirSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CONTINUATION_MARKER,
  InvalidLogTokenError,
  LogStore,
  MAX_EVENT_MESSAGE_BYTES,
  MAX_PAGE_BYTES,
  splitLogLine,
  type LogEvent,
  type LogWriteError,
} from '../../local/log-store.js';

const GROUP = '/aws/batch/job';
let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'gpujobs-log-store-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

/** A store whose reads are counted, in bytes. */
function countingStore(): { store: LogStore; bytesRead: () => number } {
  let bytes = 0;
  const store = new LogStore(directory, {
    io: {
      readAt: (fd, buffer, position) => {
        const read = readSync(fd, buffer, 0, buffer.length, position);
        bytes += read;
        return read;
      },
    },
  });
  return { store, bytesRead: () => bytes };
}

function readAll(store: LogStore, stream: string, limit = 10_000): { pages: LogEvent[][]; events: LogEvent[] } {
  const pages: LogEvent[][] = [];
  let token: string | undefined;
  for (;;) {
    const page = store.getLogEvents({
      logGroupName: GROUP,
      logStreamName: stream,
      startFromHead: true,
      limit,
      ...(token ? { nextToken: token } : {}),
    });
    if (page.events.length === 0) break;
    pages.push(page.events);
    token = page.nextForwardToken;
  }
  return { pages, events: pages.flat() };
}

const pageBytes = (events: readonly LogEvent[]) => events.reduce((sum, event) => sum + Buffer.byteLength(event.message) + 26, 0);

describe('LogStore line limit', () => {
  it('stores a 300 KB line as two events, the second marked as a continuation', async () => {
    // GIVEN a line over CloudWatch's event limit
    const store = new LogStore(directory);
    const line = 'a'.repeat(300 * 1024);
    store.createStream(GROUP, 's1');
    // WHEN it is appended and read back
    store.append(GROUP, 's1', line);
    await store.closeStream(GROUP, 's1');
    const { events } = readAll(store, 's1');
    // THEN it comes back as two pieces within the limit, the second one marked, that join to the line
    expect(events).toHaveLength(2);
    expect(events[0]?.message.startsWith(CONTINUATION_MARKER)).toBe(false);
    expect(events[1]?.message.startsWith(CONTINUATION_MARKER)).toBe(true);
    for (const event of events) expect(Buffer.byteLength(event.message)).toBeLessThanOrEqual(MAX_EVENT_MESSAGE_BYTES);
    expect(events.map((event, index) => (index === 0 ? event.message : event.message.slice(CONTINUATION_MARKER.length))).join('')).toBe(
      line,
    );
  });

  it('never cuts a multi-byte character in two', () => {
    // GIVEN a line of three-byte characters over the limit
    const line = '€'.repeat(200_000);
    // WHEN it is split
    const pieces = splitLogLine(line);
    // THEN every piece is within the limit and the pieces rejoin to the same text
    expect(pieces.length).toBe(3);
    for (const piece of pieces) expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(MAX_EVENT_MESSAGE_BYTES);
    expect(pieces.map((piece, index) => (index === 0 ? piece : piece.slice(CONTINUATION_MARKER.length))).join('')).toBe(line);
  });

  it('leaves a line within the limit as it is', () => {
    expect(splitLogLine('x'.repeat(MAX_EVENT_MESSAGE_BYTES))).toEqual(['x'.repeat(MAX_EVENT_MESSAGE_BYTES)]);
  });
});

describe('LogStore pages', () => {
  it('stops a page before it exceeds 1 MB and carries on from there with the token', async () => {
    // GIVEN 50 lines of 100 KB
    const store = new LogStore(directory);
    store.createStream(GROUP, 's1');
    for (let index = 0; index < 50; index++) store.append(GROUP, 's1', `${index}:`.padEnd(100 * 1024, 'x'));
    await store.closeStream(GROUP, 's1');
    // WHEN they are read with the largest limit
    const { pages, events } = readAll(store, 's1');
    // THEN no page is over 1 MB, and every line comes back once, in order
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(pageBytes(page)).toBeLessThanOrEqual(MAX_PAGE_BYTES);
    expect(events.map((event) => event.message.split(':')[0])).toEqual(Array.from({ length: 50 }, (_, index) => String(index)));
  });

  it('reads backward from the end by default, and the backward token goes on to older events', async () => {
    // GIVEN 10 lines
    const store = new LogStore(directory);
    store.createStream(GROUP, 's1');
    for (let index = 0; index < 10; index++) store.append(GROUP, 's1', `line ${index}`);
    await store.closeStream(GROUP, 's1');
    // WHEN the newest 3 are read, then the 3 before them
    const newest = store.getLogEvents({ logGroupName: GROUP, logStreamName: 's1', limit: 3 });
    const older = store.getLogEvents({ logGroupName: GROUP, logStreamName: 's1', limit: 3, nextToken: newest.nextBackwardToken });
    // THEN both come oldest first
    expect(newest.events.map((event) => event.message)).toEqual(['line 7', 'line 8', 'line 9']);
    expect(older.events.map((event) => event.message)).toEqual(['line 4', 'line 5', 'line 6']);
    // AND the forward token of the newest page is where new lines will appear
    store.append(GROUP, 's1', 'line 10');
    await store.closeStream(GROUP, 's1');
    expect(
      store
        .getLogEvents({ logGroupName: GROUP, logStreamName: 's1', nextToken: newest.nextForwardToken })
        .events.map((event) => event.message),
    ).toEqual(['line 10']);
  });

  it('serves pages of a 50 MB stream reading only what they return', async () => {
    // GIVEN a stream file of 50 MB
    const { store, bytesRead } = countingStore();
    store.createStream(GROUP, 'big');
    await store.closeStream(GROUP, 'big');
    const [file] = readdirSync(directory);
    const line = `${JSON.stringify({ timestamp: 1, message: 'y'.repeat(1000), ingestionTime: 1 })}\n`;
    const block = line.repeat(1000);
    for (let written = 0; written < 50 * 1024 * 1024; written += block.length) appendFileSync(join(directory, file as string), block);
    // WHEN the first page, a later page and the newest page are read
    const first = store.getLogEvents({ logGroupName: GROUP, logStreamName: 'big', startFromHead: true, limit: 100 });
    const afterFirst = bytesRead();
    const second = store.getLogEvents({ logGroupName: GROUP, logStreamName: 'big', limit: 100, nextToken: first.nextForwardToken });
    const afterSecond = bytesRead();
    const newest = store.getLogEvents({ logGroupName: GROUP, logStreamName: 'big', limit: 100 });
    // THEN each returns its 100 events and reads about their bytes, not the file
    expect([first.events.length, second.events.length, newest.events.length]).toEqual([100, 100, 100]);
    const pageOnDisk = 100 * line.length;
    expect(afterFirst).toBeLessThan(pageOnDisk + 128 * 1024);
    expect(afterSecond - afterFirst).toBeLessThan(pageOnDisk + 128 * 1024);
    expect(bytesRead() - afterSecond).toBeLessThan(pageOnDisk + 128 * 1024);
  });

  it('does not serve a line still being written', async () => {
    // GIVEN a stream whose last line has no end yet
    const store = new LogStore(directory);
    store.createStream(GROUP, 's1');
    store.append(GROUP, 's1', 'whole');
    await store.closeStream(GROUP, 's1');
    const [file] = readdirSync(directory);
    appendFileSync(join(directory, file as string), '{"timestamp":1,"mess');
    // WHEN it is read both ways
    const forward = store.getLogEvents({ logGroupName: GROUP, logStreamName: 's1', startFromHead: true });
    const backward = store.getLogEvents({ logGroupName: GROUP, logStreamName: 's1' });
    // THEN only the complete line comes back, and the token stops before the partial one
    expect(forward.events.map((event) => event.message)).toEqual(['whole']);
    expect(backward.events.map((event) => event.message)).toEqual(['whole']);
    expect(forward.nextForwardToken).toBe(backward.nextForwardToken);
  });

  it.each([
    ['inside a line', 'f/00000000000000000005/s'],
    ['past the end', 'f/00000000000000999999/s'],
    ['not a number', 'f/abc/s'],
    ['beyond a safe integer', 'f/99999999999999999999/s'],
  ])('fails when the token offset is %s', async (_case, token) => {
    // GIVEN a stream with lines
    const store = new LogStore(directory);
    store.createStream(GROUP, 's1');
    store.append(GROUP, 's1', 'one');
    store.append(GROUP, 's1', 'two');
    await store.closeStream(GROUP, 's1');
    // WHEN a page is asked from a token the store never handed out THEN it is refused as an invalid parameter
    expect(() => store.getLogEvents({ logGroupName: GROUP, logStreamName: 's1', nextToken: token })).toThrow(InvalidLogTokenError);
  });
});

describe('LogStore write failures', () => {
  const diskFull = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

  it('reports a full disk once, names it, and drops the stream’s later lines without throwing', async () => {
    // GIVEN a store whose writes fail as on a full disk
    const store = new LogStore(directory, {
      io: { createWriter: () => new Writable({ write: (_chunk, _encoding, callback) => callback(diskFull()) }) },
    });
    const failures: LogWriteError[] = [];
    store.createStream(GROUP, 's1', (failure) => failures.push(failure));
    // WHEN lines are appended
    store.append(GROUP, 's1', 'first');
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    store.append(GROUP, 's1', 'second');
    // THEN the failure is told once, in words, and closing the stream still settles
    expect(failures[0]?.message).toBe('writing the log stream s1 in the local data dir failed: the disk is full (ENOSPC)');
    await expect(store.closeStream(GROUP, 's1')).resolves.toBe(failures[0]);
    expect(failures).toHaveLength(1);
  });

  it('names an I/O error of the disk as such', async () => {
    const store = new LogStore(directory, {
      io: {
        createWriter: () =>
          new Writable({
            write: (_chunk, _encoding, callback) => callback(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })),
          }),
      },
    });
    const failure = new Promise<LogWriteError>((resolve) => store.createStream(GROUP, 's1', resolve));
    store.append(GROUP, 's1', 'line');
    expect((await failure).message).toBe(
      'writing the log stream s1 in the local data dir failed: the disk reported an input/output error (EIO)',
    );
    await store.close();
  });
});
