/**
 * `npm start`: the whole gpujobs platform on this machine. Configuration comes from
 * the environment (PORT, GPUJOBS_DATA_DIR, GPUJOBS_LOCAL_GPUS, GPUJOBS_LOCAL_RUNTIME,
 * GPUJOBS_LOCAL_PULL, GPUJOBS_LOCAL_KEEP_FAILED_SECONDS, GPUJOBS_CAPACITY_TIMEOUT_SECONDS, GPUJOBS_SPOT_GRACE_SECONDS,
 * GPUJOBS_WEBHOOK_URLS);
 * see docs/local-mode.md.
 */
import { cpus, totalmem } from 'node:os';
import { SANDBOX_MOUNT_PATH } from './batch/container-runner.js';
import { FIRST_JOB } from './first-job.js';
import { describeError } from './logger.js';
import { startLocalPlatform, type LocalPlatform } from './platform.js';

// The SDK warns on Node 20 about its releases from 2027 on; local mode supports Node 20 and the
// warning would land in the middle of the banner.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const startedAt = Date.now();
let platform: LocalPlatform;
try {
  platform = await startLocalPlatform();
} catch (error) {
  process.stderr.write(`gpujobs local mode could not start: ${describeError(error)}\n`);
  process.exit(1);
}

const { slots, real } = platform.gpus;
const gpuLine = real
  ? `${slots.length} GPU(s): ${slots.map((gpu) => `${gpu.index} ${gpu.name}${gpu.memoryMiB ? ` (${gpu.memoryMiB} MiB)` : ''}`).join(', ')}`
  : `${slots.length} virtual GPU slot(s) (no nvidia-smi found; GPUJOBS_LOCAL_GPUS sets the count)`;
const { runtime } = platform;
const asked = runtime.requested === runtime.used ? '' : ` (GPUJOBS_LOCAL_RUNTIME=${runtime.requested})`;
// Said plainly: in process mode the image a job names is not what runs.
const runtimeLine =
  runtime.used === 'process'
    ? `process${asked}: jobs run as host processes in a sandbox directory; the image is recorded, not run` +
      (runtime.noEngineReason !== undefined ? ` (no container engine answered: ${runtime.noEngineReason})` : '')
    : `${runtime.used} ${runtime.engineVersion ?? ''}${asked}: jobs run their image, the sandbox directory mounted at ${SANDBOX_MOUNT_PATH}; pull ${runtime.pull ?? 'missing'} (GPUJOBS_LOCAL_PULL)`;
const machine = { vcpus: cpus().length, memoryMiB: Math.floor(totalmem() / 1024 / 1024) };
const recovered = platform.recovered;
process.stdout.write(
  [
    '',
    `gpujobs local mode is ready on ${platform.url}  (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`,
    `  data dir       ${platform.dataDir}`,
    `  GPUs           ${gpuLine}`,
    `  runtime        ${runtimeLine}`,
    ...(runtime.used === 'process'
      ? []
      : [`  limits         vcpus and memoryMiB above this machine's ${machine.vcpus} vCPUs and ${machine.memoryMiB} MiB are capped to it`]),
    `  Spot capacity  on; Spot jobs fail over after ${platform.capacityTimeoutSeconds} s without capacity`,
    `  answers        only loopback requests (Host 127.0.0.1, localhost or [::1], port ${platform.port}) from non-browser`,
    `                 clients or its own origin; every POST needs content-type: application/json, so no web page can drive it`,
    ...(recovered.requeued.length + recovered.resumed.length > 0
      ? [
          `  after restart  ${recovered.requeued.length} queued job(s) requeued, ${recovered.resumed.length} waiting or running job(s) resumed` +
            (recovered.interrupted.length > 0
              ? `; ${recovered.interrupted.length} running attempt(s) interrupted, retried as each job's policy allows`
              : ''),
        ]
      : []),
    '',
    'Submit a first job:',
    `  curl -s -X POST ${platform.url}/v1/jobs -H 'content-type: application/json' \\`,
    `    -d '${JSON.stringify(FIRST_JOB)}'`,
    'Then:',
    `  curl -s ${platform.url}/v1/jobs                     # your jobs`,
    `  curl -s ${platform.url}/v1/jobs/<jobId>/logs         # its output`,
    `  curl -s -X POST ${platform.url}/local/spot/interrupt -H 'content-type: application/json'  # reclaim running Spot attempts`,
    `  curl -s ${platform.url}/local/events                 # events published`,
    '',
    'Ctrl-C stops the platform (running jobs are stopped; their records stay consistent).',
    '',
  ].join('\n'),
);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      process.stderr.write('stopping already; a second signal exits at once\n');
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(`\n${signal}: stopping job processes and servers...\n`);
    platform.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stopping failed: ${describeError(error)}\n`);
        process.exit(1);
      },
    );
  });
}
