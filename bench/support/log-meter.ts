/**
 * Handler log bytes, measured: CloudWatch Logs bills ingestion by the byte, and the handlers'
 * Powertools JSON lines are most of what a job logs. While installed, the meter counts those
 * lines on stdout and stderr and keeps them off the terminal; every other write passes through.
 */

/** What one write holds: the bytes of its handler lines, and whether it holds nothing else. */
export interface MeteredChunk {
  /** UTF-8 bytes of the handler lines, a newline each (as CloudWatch receives them). */
  readonly handlerBytes: number;
  /** True when every non-empty line is a handler line, so the write can be dropped. */
  readonly onlyHandlerLines: boolean;
}

/** A handler line is a Powertools JSON log line of one of the stack's services. */
export function isHandlerLogLine(line: string): boolean {
  return line.startsWith('{') && /"service":"gpujobs/.test(line);
}

export function meterChunk(text: string): MeteredChunk {
  const lines = text.split('\n').filter((line) => line !== '');
  const handlerLines = lines.filter(isHandlerLogLine);
  const handlerBytes = handlerLines.reduce((sum, line) => sum + Buffer.byteLength(line, 'utf8') + 1, 0);
  return { handlerBytes, onlyHandlerLines: lines.length > 0 && handlerLines.length === lines.length };
}

type Write = typeof process.stdout.write;

export class HandlerLogMeter {
  /** Handler log bytes since the last reset (set it to 0 to start a measurement). */
  bytes = 0;
  private readonly originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

  install(): void {
    const meter = (original: Write) =>
      ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        const { handlerBytes, onlyHandlerLines } = meterChunk(text);
        this.bytes += handlerBytes;
        if (onlyHandlerLines) return true;
        return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      }) as Write;
    process.stdout.write = meter(this.originals.out);
    process.stderr.write = meter(this.originals.err);
  }

  uninstall(): void {
    process.stdout.write = this.originals.out;
    process.stderr.write = this.originals.err;
  }
}
