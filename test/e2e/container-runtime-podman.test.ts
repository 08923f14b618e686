/** Local mode's container scenarios (container-runtime.ts) with the podman runtime. */
import { describeContainerRuntime } from './container-runtime.js';

await describeContainerRuntime('podman');
