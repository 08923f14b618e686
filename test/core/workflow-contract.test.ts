import { describe, expect, it } from 'vitest';
import { batchJobName, parseBatchJobName } from '../../core/contract/workflow.js';

describe('Batch job names', () => {
  it('round-trips a job id and attempt through the Batch job name', () => {
    const name = batchJobName('01JABCDEF-xyz_1', 3);
    expect(name).toBe('gpujobs-01JABCDEF-xyz_1-3');
    expect(parseBatchJobName(name)).toEqual({ jobId: '01JABCDEF-xyz_1', attempt: 3 });
  });

  it('returns undefined for a Batch job that gpujobs did not submit', () => {
    expect(parseBatchJobName('someone-elses-job')).toBeUndefined();
  });
});
