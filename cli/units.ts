/**
 * Human units on the command line (`--memory 16GiB`, `--timeout 2h`) and back
 * (`3m12s`, `16 GiB`) for output. The API speaks MiB and seconds only.
 */

export class UnitParseError extends Error {
  override readonly name = 'UnitParseError';
}

const MEMORY_UNITS_MIB: Readonly<Record<string, number>> = {
  '': 1,
  m: 1,
  mi: 1,
  mib: 1,
  g: 1024,
  gi: 1024,
  gib: 1024,
  t: 1024 * 1024,
  ti: 1024 * 1024,
  tib: 1024 * 1024,
};

/**
 * `16GiB`, `16Gi`, `16G`, `512MiB`, `1.5GiB`, or a bare number of MiB → whole MiB.
 * Single-letter units are binary, as in `docker run -m 16g`; decimal `GB`/`MB`
 * are refused rather than silently rounded.
 */
export function parseMemoryMiB(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = match?.[2]?.toLowerCase();
  const factor = unit === undefined ? undefined : MEMORY_UNITS_MIB[unit];
  if (!match || factor === undefined) {
    throw new UnitParseError(`memory must be a size like 16GiB, 512MiB or a number of MiB. Received "${text}".`);
  }
  const mib = Number(match[1]) * factor;
  if (!Number.isInteger(mib)) {
    throw new UnitParseError(`memory must be a whole number of MiB. Received "${text}" (${mib} MiB).`);
  }
  return mib;
}

const DURATION_UNITS_SECONDS: Readonly<Record<string, number>> = { d: 86_400, h: 3_600, m: 60, s: 1 };

/** `2h`, `90m`, `1h30m`, `45s`, `1d`, or a bare number of seconds → whole seconds. */
export function parseDurationSeconds(text: string): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const part = /(\d+(?:\.\d+)?)([dhms])/gy;
  let seconds = 0;
  let consumed = 0;
  for (let match = part.exec(trimmed); match; match = part.exec(trimmed)) {
    seconds += Number(match[1]) * (DURATION_UNITS_SECONDS[match[2] as string] ?? 0);
    consumed = part.lastIndex;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length) {
    throw new UnitParseError(`duration must look like 2h, 90m, 1h30m, 45s, 1d or a number of seconds. Received "${text}".`);
  }
  if (!Number.isInteger(seconds)) {
    throw new UnitParseError(`duration must be a whole number of seconds. Received "${text}" (${seconds}s).`);
  }
  return seconds;
}

/** Milliseconds → `3m12s`, `1h2m5s`, `1d1h`; sub-second remainders round down. */
export function formatDuration(milliseconds: number): string {
  const total = Math.max(0, Math.floor(milliseconds / 1000));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3_600);
  const minutes = Math.floor((total % 3_600) / 60);
  const seconds = total % 60;
  if (days > 0) return `${days}d${hours > 0 ? `${hours}h` : ''}`;
  if (hours > 0) return `${hours}h${minutes > 0 ? `${minutes}m` : ''}${seconds > 0 ? `${seconds}s` : ''}`;
  if (minutes > 0) return `${minutes}m${seconds > 0 ? `${seconds}s` : ''}`;
  return `${seconds}s`;
}

/** 16_384 → `16 GiB`; 1_536 → `1.5 GiB`; 512 → `512 MiB`. */
export function formatMemory(mib: number): string {
  if (mib >= 1024) {
    const gib = mib / 1024;
    return `${Number.isInteger(gib) ? gib : gib.toFixed(1).replace(/\.0$/, '')} GiB`;
  }
  return `${mib} MiB`;
}

export function formatUsd(amount: number | undefined): string {
  if (amount === undefined) return '-';
  return amount > 0 && amount < 0.01 ? `$${amount.toFixed(4)}` : `$${amount.toFixed(2)}`;
}

/** `K=V` → [K, V]; the value may itself contain `=`. */
export function parseKeyValue(text: string, flag: string): [string, string] {
  const separator = text.indexOf('=');
  if (separator <= 0) {
    throw new UnitParseError(`${flag} takes KEY=VALUE. Received "${text}".`);
  }
  return [text.slice(0, separator), text.slice(separator + 1)];
}
