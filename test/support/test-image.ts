/**
 * The container tests' image, built with no registry: a busybox rootfs (Debian's
 * busybox-static binary plus the applet links the tests call) imported into the detected
 * engine, podman or Docker, as `localhost/gpujobs-test:busybox`. The CI machines reach no
 * registry, so nothing may be pulled. Building is skipped when the image already exists from the same recipe.
 *
 * Also a command, for .ci/run and developers: `npx tsx test/support/test-image.ts` builds it in
 * every engine that answers, since the container tests run in each.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { type DetectedContainerEngine, detectContainerEngine } from '../../local/container-engine.js';

export const TEST_IMAGE = 'localhost/gpujobs-test:busybox';

/** The commands the container tests run inside the image. */
export const TEST_IMAGE_APPLETS = ['sh', 'echo', 'sleep', 'cat', 'env', 'true', 'false'] as const;

/** Debian's busybox-static installs a statically linked busybox here; it needs no libraries in the rootfs. */
export const DEFAULT_BUSYBOX = '/bin/busybox';

/** Labels the image with its recipe, so that an image from an older recipe is rebuilt rather than reused. */
const RECIPE_LABEL = 'io.gpujobs.test-image.recipe';
const RECIPE = `busybox:${TEST_IMAGE_APPLETS.join(',')}:cmd-sh`;

const run = promisify(execFile);
const ENGINE_TIMEOUT_MS = 120_000;

export interface EnsureTestImageOptions {
  /**
   * The statically linked busybox to put in the image.
   * @default GPUJOBS_TEST_BUSYBOX, else /bin/busybox
   */
  readonly busybox?: string;
}

/** Builds the test image in `engine` unless it is there already; says which happened. */
export async function ensureTestImage(
  engine: DetectedContainerEngine,
  options: EnsureTestImageOptions = {},
): Promise<{ readonly image: string; readonly built: boolean }> {
  if ((await imageRecipe(engine)) === RECIPE) return { image: TEST_IMAGE, built: false };
  const busybox = options.busybox ?? process.env.GPUJOBS_TEST_BUSYBOX ?? DEFAULT_BUSYBOX;
  if (!existsSync(busybox)) {
    throw new Error(
      `The test image needs a statically linked busybox at ${busybox}, which does not exist (Debian: apt-get install busybox-static).`,
    );
  }
  const workDir = mkdtempSync(join(tmpdir(), 'gpujobs-test-image-'));
  try {
    const rootfs = join(workDir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    // Jobs write scratch files under /tmp; an image without it would fail them for the wrong reason.
    mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
    copyFileSync(busybox, join(rootfs, 'bin', 'busybox'));
    for (const applet of TEST_IMAGE_APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
    const tarball = join(workDir, 'rootfs.tar');
    await run('tar', ['-C', rootfs, '-cf', tarball, '.']);
    await engineCommand(engine, [
      'import',
      '--change',
      'CMD ["/bin/sh"]',
      '--change',
      'ENV PATH=/bin',
      '--change',
      `LABEL ${RECIPE_LABEL}=${RECIPE}`,
      tarball,
      TEST_IMAGE,
    ]);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  return { image: TEST_IMAGE, built: true };
}

/** The recipe label of the image in the engine's store, or undefined when there is no such image. */
async function imageRecipe(engine: DetectedContainerEngine): Promise<string | undefined> {
  try {
    const stdout = await engineCommand(engine, ['image', 'inspect', '--format', '{{json .Config.Labels}}', TEST_IMAGE]);
    const labels: unknown = JSON.parse(stdout.trim() || 'null');
    return typeof labels === 'object' && labels !== null ? (labels as Record<string, string>)[RECIPE_LABEL] : undefined;
  } catch {
    return undefined;
  }
}

async function engineCommand(engine: DetectedContainerEngine, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(engine.engine, [...args], { env: engine.env, timeout: ENGINE_TIMEOUT_MS });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`\`${engine.engine} ${args.join(' ')}\` failed: ${stderr || (error as Error).message}`, { cause: error });
  }
}

async function main(): Promise<number> {
  const reasons: string[] = [];
  for (const candidate of ['podman', 'docker'] as const) {
    const engine = await detectContainerEngine({ env: process.env, candidates: [candidate] });
    if (engine.engine === undefined) {
      reasons.push(engine.reason);
      continue;
    }
    const { built } = await ensureTestImage(engine);
    console.log(`${TEST_IMAGE} ${built ? 'built' : 'already present'} in ${engine.engine} ${engine.version}`);
  }
  if (reasons.length === 2) {
    console.error(`No container engine to build ${TEST_IMAGE} in: ${reasons.join('; ')}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
