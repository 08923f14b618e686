/**
 * A stopped execution reads ABORTED, and announces it, only once what its stop hooks started is
 * done: the `.sync` Batch task's hook terminates the job, and reconcile (which reacts to the
 * ABORTED event) must not record the job CANCELLED while its processes still run.
 */
import { describe, expect, it } from 'vitest';
import type { LocalLogger } from '../../local/logger.js';
import { LocalStepFunctions } from '../../local/step-functions.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined } as unknown as LocalLogger;
const stateMachineArn = 'arn:aws:states:us-east-1:000000000000:stateMachine:stop';

describe('stopping a local execution', () => {
  it('publishes ABORTED only after the stop hook has finished its work', async () => {
    // GIVEN a running execution whose task registered a stop hook that takes a while (a kill)
    const order: string[] = [];
    let hookRegistered: () => void = () => undefined;
    const registered = new Promise<void>((resolve) => {
      hookRegistered = resolve;
    });
    const sfn = new LocalStepFunctions({
      stateMachineArn,
      definition: {
        StartAt: 'Work',
        States: { Work: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:work', End: true } },
      },
      createTaskHandlers: (execution) => ({
        Work: () =>
          new Promise(() => {
            execution.onStop(async () => {
              await new Promise((resolve) => setTimeout(resolve, 200));
              order.push('processes gone');
            });
            hookRegistered();
          }),
      }),
      onStatusChange: (description) => {
        if (description.status !== 'RUNNING') order.push(`published ${description.status}`);
      },
      logger: silent,
    });
    const started = sfn.startExecution({ stateMachineArn, name: 'job-1' });
    await registered;

    // WHEN it is stopped
    sfn.stopExecution({ executionArn: started.executionArn, error: 'gpujobs.Cancelled' });
    await sfn.drain();

    // THEN the end is published after the hook's work, as ABORTED with the stop's error
    expect(order).toEqual(['processes gone', 'published ABORTED']);
    expect(sfn.describeExecution(started)).toMatchObject({ status: 'ABORTED', error: 'gpujobs.Cancelled' });
  });
});
