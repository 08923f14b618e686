/** The local platform's own diagnostics (not job logs): one line each on stderr. */
export interface LocalLogger {
  info(message: string): void;
  warn(message: string, error?: unknown): void;
  error(message: string, error?: unknown): void;
}

export function consoleLogger(options: { readonly quiet?: boolean } = {}): LocalLogger {
  const write = (level: string, message: string, error?: unknown) => {
    const suffix = error === undefined ? '' : `: ${describeError(error)}`;
    process.stderr.write(`[gpujobs ${level}] ${message}${suffix}\n`);
  };
  return {
    info: (message) => {
      if (!options.quiet) write('info', message);
    },
    warn: (message, error) => write('warn', message, error),
    error: (message, error) => write('error', message, error),
  };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
