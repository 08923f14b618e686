/**
 * Counts the AWS SDK calls made in this process, by client and command, by wrapping `send` on the
 * SDK's shared client base class. Every v3 client (and the DynamoDB document client) inherits that
 * method, so the handlers' module-scope clients are counted without touching the handlers.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface SdkCall {
  readonly client: string;
  readonly command: string;
  readonly input: Record<string, unknown>;
}

type Send = (this: object, command: { constructor: { name: string }; input?: unknown }, ...rest: unknown[]) => Promise<unknown>;

export class SdkCallCounter {
  private calls: SdkCall[] = [];
  private restore?: () => void;

  /** `ignore` leaves out calls that are not the handlers' (e.g. a stand-in's own polling). */
  constructor(private readonly ignore: (call: SdkCall) => boolean = () => false) {}

  install(): void {
    if (this.restore) return;
    const base = Object.getPrototypeOf(DynamoDBClient.prototype) as { send: Send };
    const original = base.send;
    const record = (call: SdkCall) => {
      if (!this.ignore(call)) this.calls.push(call);
    };
    base.send = function (this: object, command, ...rest) {
      record({ client: this.constructor.name, command: command.constructor.name, input: (command.input ?? {}) as Record<string, unknown> });
      return original.call(this, command, ...rest);
    };
    this.restore = () => {
      base.send = original;
    };
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
  }

  /** The calls since the last take, and a fresh start. */
  take(): SdkCall[] {
    const taken = this.calls;
    this.calls = [];
    return taken;
  }

  get pending(): number {
    return this.calls.length;
  }
}

/** Calls grouped `client.command` → count. */
export function countByCommand(calls: readonly SdkCall[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[`${call.client}.${call.command}`] = (counts[`${call.client}.${call.command}`] ?? 0) + 1;
  return counts;
}
