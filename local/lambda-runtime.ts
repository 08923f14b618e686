/**
 * Local mode's Lambda service: the context object the handlers (and middy/powertools) read, the
 * invocation of a handler module in this process, and the shape Step Functions gives a function's
 * error. Handler invocations are tracked so that stopping the platform can let them land first.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** A Lambda handler as its module exports it. */
export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface LambdaContextOptions {
  readonly region: string;
  readonly account: string;
  /** The function's timeout: getRemainingTimeInMillis counts down from it. */
  readonly timeoutMs: number;
  /** @default 'local' */
  readonly logStreamName?: string;
}

export function lambdaContext(functionName: string, options: LambdaContextOptions): Context {
  const deadline = Date.now() + options.timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:${options.account}:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: options.logStreamName ?? 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * A function error as the Lambda integration of Step Functions reports it: the error is named by
 * Lambda's errorType and carries Lambda's error JSON as the cause (its message, for
 * aws-local-stepfunctions), so a Retry or Catch on the errorType matches as in AWS.
 */
export class LambdaFunctionError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(JSON.stringify({ errorType, errorMessage, trace: [] }));
    this.name = errorType;
  }

  static of(error: unknown): LambdaFunctionError {
    return error instanceof Error ? new LambdaFunctionError(error.name, error.message) : new LambdaFunctionError('Error', String(error));
  }
}

/** Invokes handlers as functions named `gpujobs-local-<name>`, and knows which invocations are still running. */
export class LocalLambda {
  private readonly invocations = new Set<Promise<unknown>>();

  constructor(private readonly options: { readonly region: string; readonly account: string; readonly timeoutMs: number }) {}

  invoke(name: string, handler: LambdaHandler, event: unknown): Promise<unknown> {
    const invocation = handler(event, lambdaContext(`gpujobs-local-${name}`, this.options));
    this.invocations.add(invocation);
    void invocation.then(
      () => this.invocations.delete(invocation),
      () => this.invocations.delete(invocation),
    );
    return invocation;
  }

  /** Resolves once every running invocation has ended, or after `timeoutMs`, whichever comes first. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.invocations.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.invocations]), new Promise((resolve) => setTimeout(resolve, deadline - Date.now()))]);
    }
  }
}
