/** Job lives for the fake API, chosen by the first word of the job's command. */
import type { Attempt } from '../../core/job.js';
import { isoAt, type ScriptStep } from './fake-api.js';

const spotPending: Attempt = { attempt: 1, capacity: 'spot', status: 'PENDING' };
const spotRunning: Attempt = { ...spotPending, status: 'RUNNING', instanceType: 'g5.xlarge', startedAt: isoAt(10), batchJobId: 'b-1' };

export const SUCCEEDS: readonly ScriptStep[] = [
  { status: 'QUEUED' },
  { status: 'PENDING', attempts: [spotPending] },
  { status: 'RUNNING', attempts: [spotRunning], logs: [{ attempt: 1, message: 'epoch 1' }] },
  {
    status: 'RUNNING',
    attempts: [spotRunning],
    logs: [
      { attempt: 1, message: 'epoch 1' },
      { attempt: 1, message: 'epoch 2' },
      { attempt: 1, message: 'epoch 3' },
    ],
  },
  {
    status: 'SUCCEEDED',
    exitCode: 0,
    costUsd: 0.42,
    attempts: [{ ...spotRunning, status: 'SUCCEEDED', exitCode: 0, stoppedAt: isoAt(250) }],
    logs: [
      { attempt: 1, message: 'epoch 1' },
      { attempt: 1, message: 'epoch 2' },
      { attempt: 1, message: 'epoch 3' },
      { attempt: 1, message: 'done' },
    ],
  },
];

export const FAILS: readonly ScriptStep[] = [
  { status: 'QUEUED' },
  { status: 'RUNNING', attempts: [spotRunning] },
  {
    status: 'FAILED',
    exitCode: 3,
    statusReason: 'Essential container in task exited',
    costUsd: 0.05,
    attempts: [
      {
        ...spotRunning,
        status: 'FAILED',
        failureClass: 'APP_ERROR',
        exitCode: 3,
        stoppedAt: isoAt(40),
        statusReason: 'Essential container in task exited',
      },
    ],
  },
];

const reclaimed: Attempt = {
  ...spotRunning,
  status: 'FAILED',
  failureClass: 'SPOT_RECLAIM',
  startedAt: isoAt(10),
  stoppedAt: isoAt(10 + 192),
  statusReason: 'Host EC2 (instance i-0abc) terminated.',
  costUsd: 0.1,
};
const onDemandPending: Attempt = { attempt: 2, capacity: 'on-demand', status: 'PENDING' };
const onDemandRunning: Attempt = { ...onDemandPending, status: 'RUNNING', instanceType: 'g5.2xlarge', startedAt: isoAt(260) };

export const RECLAIMED_THEN_ON_DEMAND: readonly ScriptStep[] = [
  { status: 'QUEUED' },
  { status: 'RUNNING', attempts: [spotRunning], logs: [{ attempt: 1, message: 'spot says hi' }] },
  {
    status: 'PENDING',
    attempts: [reclaimed, onDemandPending],
    logs: [{ attempt: 1, message: 'spot says hi' }],
  },
  {
    status: 'RUNNING',
    attempts: [reclaimed, onDemandRunning],
    logs: [
      { attempt: 1, message: 'spot says hi' },
      { attempt: 2, message: 'on-demand says hi' },
    ],
  },
  {
    status: 'SUCCEEDED',
    exitCode: 0,
    costUsd: 0.9,
    attempts: [reclaimed, { ...onDemandRunning, status: 'SUCCEEDED', exitCode: 0, stoppedAt: isoAt(500), costUsd: 0.8 }],
    logs: [
      { attempt: 1, message: 'spot says hi' },
      { attempt: 2, message: 'on-demand says hi' },
      { attempt: 2, message: 'finished' },
    ],
  },
];
