/** Local mode's container scenarios (container-runtime.ts) with the docker runtime. */
import { describeContainerRuntime } from './container-runtime.js';

await describeContainerRuntime('docker');
