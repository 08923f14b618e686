/**
 * Captures the EMF documents the handlers write to stdout (and only those: every other write
 * passes through), so tests can assert which metrics an invocation emitted.
 */
import { vi } from 'vitest';

export interface EmfDocument {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
  readonly [member: string]: unknown;
}

export interface EmfCapture {
  readonly documents: EmfDocument[];
  /** Every value emitted for `name`, across documents, in order. */
  values(name: string): number[];
  /** Name → values of everything emitted, for asserting that nothing else was. */
  all(): Record<string, number[]>;
  clear(): void;
  restore(): void;
}

export function captureEmf(): EmfCapture {
  const documents: EmfDocument[] = [];
  const write = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean;
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
    if (text.startsWith('{"_aws"')) {
      for (const line of text.split('\n').filter(Boolean)) documents.push(JSON.parse(line) as EmfDocument);
      return true;
    }
    return write(chunk, ...rest);
  }) as typeof process.stdout.write);

  const all = () => {
    const byName: Record<string, number[]> = {};
    for (const document of documents) {
      for (const { Name } of document._aws.CloudWatchMetrics.flatMap((directive) => directive.Metrics)) {
        const value = document[Name];
        byName[Name] = [...(byName[Name] ?? []), ...(Array.isArray(value) ? (value as number[]) : [value as number])];
      }
    }
    return byName;
  };

  return {
    documents,
    values: (name) => all()[name] ?? [],
    all,
    clear: () => void documents.splice(0, documents.length),
    restore: () => spy.mockRestore(),
  };
}
