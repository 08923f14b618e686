import { describe, expect, it } from 'vitest';
import { isHandlerLogLine, meterChunk } from '../../bench/support/log-meter.js';

const handlerLine = '{"level":"INFO","message":"job queued","service":"gpujobs-api"}';

describe('meterChunk', () => {
  it('counts handler lines with their newline and lets the write be dropped', () => {
    expect(meterChunk(`${handlerLine}\n${handlerLine}\n`)).toEqual({ handlerBytes: 2 * (handlerLine.length + 1), onlyHandlerLines: true });
  });

  it('counts the handler lines of a mixed write but keeps the write', () => {
    expect(meterChunk(`${handlerLine}\nlistening on 8787\n`)).toEqual({ handlerBytes: handlerLine.length + 1, onlyHandlerLines: false });
  });

  it('counts UTF-8 bytes, not characters', () => {
    const line = '{"message":"é","service":"gpujobs-api"}';
    expect(meterChunk(line).handlerBytes).toBe(line.length + 2);
  });

  it('keeps an empty write', () => {
    expect(meterChunk('')).toEqual({ handlerBytes: 0, onlyHandlerLines: false });
  });
});

describe('isHandlerLogLine', () => {
  it('takes only JSON lines of a gpujobs service', () => {
    expect(isHandlerLogLine(handlerLine)).toBe(true);
    expect(isHandlerLogLine('{"service":"other"}')).toBe(false);
    expect(isHandlerLogLine('service "gpujobs" started')).toBe(false);
  });
});
