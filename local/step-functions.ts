/**
 * The Step Functions stand-in: executions of one state machine (the job workflow,
 * jobWorkflowAsl) run by aws-local-stepfunctions, with StartExecution's name rules,
 * StopExecution (which also stops the execution's running Batch job, as the `.sync`
 * integration does) and the "Step Functions Execution Status Change" events.
 */
import './polyfills.js';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import { executionArnFor } from '../core/contract/workflow.js';
import type { LocalLogger } from './logger.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type TaskHandler = (input: JsonValue) => Promise<JsonValue>;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** What a task handler may know about the execution it runs in. */
export interface ExecutionHandle {
  readonly executionArn: string;
  readonly name: string;
  /**
   * Runs `onStop` if the execution is stopped before the returned function is called. A promise
   * it returns is awaited before the execution reads ABORTED (or TIMED_OUT), so the end event
   * comes after what the stop did (e.g. the Batch job's processes are gone).
   */
  onStop(onStop: () => unknown): () => void;
}

export interface ExecutionDescription {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  readonly startDate: Date;
  readonly stopDate?: Date;
  readonly input: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

export class StepFunctionsError extends Error {
  constructor(
    override readonly name:
      | 'ExecutionAlreadyExists'
      | 'ExecutionDoesNotExist'
      | 'StateMachineDoesNotExist'
      | 'InvalidName'
      | 'InvalidExecutionInput'
      | 'InvalidArn'
      | 'InvalidToken',
    message: string,
  ) {
    super(message);
  }
}

export interface LocalStepFunctionsOptions {
  readonly stateMachineArn: string;
  readonly definition: StateMachineDefinition;
  /** Task overrides by state name, made per execution. */
  readonly createTaskHandlers: (execution: ExecutionHandle) => Record<string, TaskHandler>;
  /** Receives every execution status change, as the "Step Functions Execution Status Change" detail. */
  readonly onStatusChange: (detail: Record<string, unknown>) => void;
  readonly logger: LocalLogger;
  /** Ended executions kept for DescribeExecution and ListExecutions; older ones are forgotten. @default 1000 */
  readonly maxEndedExecutions?: number;
}

/**
 * Step Functions forgets an ended execution after its retention time (90 days,
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): DescribeExecution then
 * answers ExecutionDoesNotExist. Here the bound is a count, so memory does not grow with every job run.
 */
export const DEFAULT_MAX_ENDED_EXECUTIONS = 1_000;

interface Execution {
  description: ExecutionDescription;
  abort?: () => void;
  stopHooks: Set<() => unknown>;
  stopRequest?: { error?: string; cause?: string };
  /** Settles once every stop hook's work is done. */
  stopped?: Promise<void>;
  finished: Promise<void>;
}

/**
 * The machine's TimeoutSeconds is enforced by aws-local-stepfunctions with one Node timer, and Node
 * fires a timer at once when given more than 2^31-1 ms. The job workflow keeps its timeout below
 * that (EXECUTION_TIMEOUT_SECONDS in lib/workflow/job-workflow.ts); a longer one is refused here
 * rather than timing every execution out on its first tick.
 */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

export class LocalStepFunctions {
  private readonly executions = new Map<string, Execution>();
  /** Ended executions' ARNs, oldest end first: the order they are forgotten in. */
  private readonly ended: string[] = [];
  private readonly machine: StateMachine;
  private stopping = false;

  constructor(private readonly options: LocalStepFunctionsOptions) {
    const { TimeoutSeconds } = options.definition;
    if (TimeoutSeconds !== undefined && TimeoutSeconds > MAX_TIMER_SECONDS) {
      throw new RangeError(
        `Local mode runs state machines whose TimeoutSeconds is at most ${MAX_TIMER_SECONDS}. Received ${TimeoutSeconds}.`,
      );
    }
    this.machine = new StateMachine(options.definition, {
      validationOptions: { checkArn: false, checkPaths: true },
    });
  }

  get stateMachineArn(): string {
    return this.options.stateMachineArn;
  }

  executionArnOf(name: string): string {
    return executionArnFor(this.options.stateMachineArn, name);
  }

  startExecution(request: { stateMachineArn?: string; name?: string; input?: string }): { executionArn: string; startDate: Date } {
    if (this.stopping) throw new StepFunctionsError('StateMachineDoesNotExist', 'The local platform is stopping.');
    if (request.stateMachineArn !== this.options.stateMachineArn) {
      throw new StepFunctionsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${request.stateMachineArn}'`);
    }
    const name = request.name ?? crypto.randomUUID();
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
      throw new StepFunctionsError('InvalidName', `Invalid Name: '${name}'`);
    }
    const inputText = request.input ?? '{}';
    let input: JsonValue;
    try {
      input = JSON.parse(inputText) as JsonValue;
    } catch {
      throw new StepFunctionsError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${inputText}'`);
    }
    const executionArn = this.executionArnOf(name);
    const existing = this.executions.get(executionArn);
    if (existing) {
      // Standard workflows: the same name and input while running is the same request, anything else a conflict.
      if (existing.description.status === 'RUNNING' && existing.description.input === inputText) {
        return { executionArn, startDate: existing.description.startDate };
      }
      throw new StepFunctionsError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }

    const execution: Execution = {
      description: {
        executionArn,
        stateMachineArn: this.options.stateMachineArn,
        name,
        status: 'RUNNING',
        startDate: new Date(),
        input: inputText,
      },
      stopHooks: new Set(),
      finished: Promise.resolve(),
    };
    this.executions.set(executionArn, execution);
    const handle: ExecutionHandle = {
      executionArn,
      name,
      onStop: (hook) => {
        execution.stopHooks.add(hook);
        return () => execution.stopHooks.delete(hook);
      },
    };
    const run = this.machine.run(input, {
      overrides: { taskResourceLocalHandlers: this.options.createTaskHandlers(handle) },
      context: { Execution: { Id: executionArn, Name: name, RoleArn: 'arn:aws:iam::000000000000:role/local' } },
    });
    execution.abort = run.abort;
    execution.finished = run.result.then(
      (output) => this.close(execution, { status: 'SUCCEEDED', output: JSON.stringify(output) }),
      async (error: unknown) => {
        await execution.stopped;
        this.close(execution, this.failureOf(execution, error));
      },
    );
    this.publish(execution.description);
    return { executionArn, startDate: execution.description.startDate };
  }

  stopExecution(request: { executionArn?: string; error?: string; cause?: string }): { stopDate: Date } {
    const execution = this.executions.get(request.executionArn ?? '');
    if (!execution) throw new StepFunctionsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${request.executionArn}'`);
    if (execution.description.status === 'RUNNING' && !execution.stopRequest) {
      execution.stopRequest = {
        ...(request.error !== undefined ? { error: request.error } : {}),
        ...(request.cause !== undefined ? { cause: request.cause } : {}),
      };
      this.runStopHooks(execution);
      execution.abort?.();
    }
    return { stopDate: execution.description.stopDate ?? new Date() };
  }

  describeExecution(request: { executionArn?: string }): ExecutionDescription {
    const execution = this.executions.get(request.executionArn ?? '');
    if (!execution) throw new StepFunctionsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${request.executionArn}'`);
    return execution.description;
  }

  /**
   * ListExecutions: newest start first, optionally of one status, paginated by nextToken
   * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html).
   */
  listExecutions(request: { stateMachineArn?: string; statusFilter?: string; maxResults?: number; nextToken?: string }): {
    executions: Pick<ExecutionDescription, 'executionArn' | 'stateMachineArn' | 'name' | 'status' | 'startDate' | 'stopDate'>[];
    nextToken?: string;
  } {
    if (request.stateMachineArn !== this.options.stateMachineArn) {
      throw new StepFunctionsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${request.stateMachineArn}'`);
    }
    const listed = [...this.executions.values()]
      .map((execution) => execution.description)
      .filter((description) => request.statusFilter === undefined || description.status === request.statusFilter)
      .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
    const start = request.nextToken ? Number(request.nextToken) : 0;
    if (!Number.isInteger(start) || start < 0) throw new StepFunctionsError('InvalidToken', `Invalid Token: '${request.nextToken}'`);
    const pageSize = Math.min(Math.max(request.maxResults || 100, 1), 1000);
    const executions = listed
      .slice(start, start + pageSize)
      .map(({ executionArn, stateMachineArn, name, status, startDate, stopDate }) => ({
        executionArn,
        stateMachineArn,
        name,
        status,
        startDate,
        ...(stopDate ? { stopDate } : {}),
      }));
    return { executions, ...(start + pageSize < listed.length ? { nextToken: String(start + pageSize) } : {}) };
  }

  /** Resolves when every execution started so far has ended. */
  async drain(): Promise<void> {
    await Promise.all([...this.executions.values()].map((execution) => execution.finished));
  }

  /** Abandons running executions without status events: their jobs are reconciled on the next start. */
  shutdown(): void {
    this.stopping = true;
    for (const execution of this.executions.values()) {
      if (execution.description.status === 'RUNNING') execution.abort?.();
    }
  }

  private failureOf(execution: Execution, error: unknown): Partial<ExecutionDescription> & { status: ExecutionStatus } {
    if (error instanceof ExecutionAbortedError) {
      return { status: 'ABORTED', ...execution.stopRequest };
    }
    if (error instanceof ExecutionTimeoutError) {
      return { status: 'TIMED_OUT', error: 'States.Timeout' };
    }
    const wrapped = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
    if (wrapped instanceof Error) return { status: 'FAILED', error: wrapped.name, cause: wrapped.message };
    return { status: 'FAILED', error: 'States.Runtime', cause: String(wrapped) };
  }

  private close(execution: Execution, end: Partial<ExecutionDescription> & { status: ExecutionStatus }): void {
    if (execution.description.status !== 'RUNNING') return;
    execution.description = { ...execution.description, ...end, stopDate: new Date() };
    execution.stopHooks.clear();
    this.forgetOldEnds(execution.description.executionArn);
    if (this.stopping) return;
    if (end.status === 'FAILED') {
      this.options.logger.warn(`execution ${execution.description.name} failed: ${end.error}: ${end.cause}`);
    }
    this.publish(execution.description);
  }

  private forgetOldEnds(endedArn: string): void {
    this.ended.push(endedArn);
    const keep = this.options.maxEndedExecutions ?? DEFAULT_MAX_ENDED_EXECUTIONS;
    while (this.ended.length > keep) {
      const arn = this.ended.shift() as string;
      if (this.executions.get(arn)?.description.status !== 'RUNNING') this.executions.delete(arn);
    }
  }

  private runStopHooks(execution: Execution): void {
    const pending: Promise<unknown>[] = [];
    for (const hook of execution.stopHooks) {
      try {
        pending.push(Promise.resolve(hook()));
      } catch (error) {
        this.options.logger.warn(`stopping execution ${execution.description.name}`, error);
      }
    }
    execution.stopHooks.clear();
    execution.stopped = Promise.allSettled(pending).then((results) => {
      for (const result of results) {
        if (result.status === 'rejected') this.options.logger.warn(`stopping execution ${execution.description.name}`, result.reason);
      }
    });
  }

  private publish(description: ExecutionDescription): void {
    this.options.onStatusChange({
      executionArn: description.executionArn,
      stateMachineArn: description.stateMachineArn,
      name: description.name,
      status: description.status,
      startDate: description.startDate.getTime(),
      stopDate: description.stopDate ? description.stopDate.getTime() : null,
      input: description.input,
      inputDetails: { included: true },
      output: description.output ?? null,
      outputDetails: description.output === undefined ? null : { included: true },
      error: description.error ?? null,
      cause: description.cause ?? null,
    });
  }
}
