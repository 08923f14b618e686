/**
 * How settle-attempt and batch-events price the Batch runs they record (app/record-runs.ts): the
 * instance type behind the run's container instance, from ECS, then the attempt's cost. Apart
 * from wiring.ts because it brings the ECS client.
 */
import { ECSClient } from '@aws-sdk/client-ecs';
import type { RecordRunsDependencies } from '../../app/record-runs.js';
import { attemptCostUsd } from '../../core/cost.js';
import { InstanceTypeLookup } from './instance-types.js';

/** One lookup per function (module scope), so a warm container remembers each instance's type. */
export function runPricingFromEcs(): RecordRunsDependencies {
  const instanceTypes = new InstanceTypeLookup(new ECSClient({}));
  return {
    instanceTypeOf: (containerInstanceArn) => instanceTypes.instanceTypeOf(containerInstanceArn),
    attemptCostUsd: (attempt) => attemptCostUsd(attempt)?.costUsd,
  };
}
