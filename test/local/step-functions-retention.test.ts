import { describe, expect, it } from 'vitest';
import type { LocalLogger } from '../../local/logger.js';
import { LocalStepFunctions, StepFunctionsError } from '../../local/step-functions.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as LocalLogger;
const stateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:retention';

function machine(gate: Promise<void>, maxEndedExecutions: number): LocalStepFunctions {
  return new LocalStepFunctions({
    stateMachineArn,
    definition: {
      StartAt: 'Work',
      States: { Work: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:work', End: true } },
    },
    createTaskHandlers: (execution) => ({
      Work: async (input) => {
        if (execution.name.startsWith('long')) await gate;
        return input;
      },
    }),
    onStatusChange: () => undefined,
    logger: silent,
    maxEndedExecutions,
  });
}

describe('LocalStepFunctions retention', () => {
  it('forgets the oldest ended executions beyond the bound, as Step Functions does after retention, and keeps running ones', async () => {
    // GIVEN a bound of 3 ended executions, one long execution running, and 5 that end
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sfn = machine(gate, 3);
    const long = sfn.startExecution({ stateMachineArn, name: 'long-0' });
    const ended: { executionArn: string }[] = [];
    for (let index = 0; index < 5; index++) ended.push(sfn.startExecution({ stateMachineArn, name: `short-${index}` }));
    // WHEN they have ended
    await expect
      .poll(() =>
        sfn
          .listExecutions({ stateMachineArn, statusFilter: 'SUCCEEDED' })
          .executions.map((execution) => execution.name)
          .sort(),
      )
      .toEqual(['short-2', 'short-3', 'short-4']);
    // THEN the two oldest ends answer ExecutionDoesNotExist, the newest three and the running one are described
    for (const forgotten of ended.slice(0, 2)) {
      expect(() => sfn.describeExecution(forgotten)).toThrow(StepFunctionsError);
      expect(() => sfn.describeExecution(forgotten)).toThrow(/Execution Does Not Exist/);
    }
    for (const kept of ended.slice(2)) expect(sfn.describeExecution(kept).status).toBe('SUCCEEDED');
    expect(sfn.describeExecution(long).status).toBe('RUNNING');
    release();
    await sfn.drain();
    // AND once the long one ends it counts as the newest end
    expect(sfn.describeExecution(long).status).toBe('SUCCEEDED');
    expect(() => sfn.describeExecution(ended[2] as (typeof ended)[number])).toThrow(/Execution Does Not Exist/);
  });
});
