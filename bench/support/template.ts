/**
 * The synthesized CloudFormation template of the default deployment (createApp from lib/app.ts),
 * from a cloud assembly that `cdk synth` wrote in this run, or synthesized here. Synthesis takes
 * tens of seconds on this machine, so a template synthesized without bundling is cached under
 * .cache/bench, keyed by a hash of everything that shapes it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

export interface SynthesizedTemplate {
  readonly Resources: Record<string, TemplateResource>;
  readonly Parameters?: Record<string, { readonly Default?: unknown }>;
  readonly Outputs?: Record<string, unknown>;
}

export interface LoadedTemplate {
  readonly template: SynthesizedTemplate;
  /** The cloud assembly it came from, when there is one (it holds the bundled assets). */
  readonly assemblyDir?: string;
  readonly source: 'assembly' | 'cache' | 'synthesized';
  readonly synthSeconds?: number;
}

/**
 * What the template is built from; a change in any of them invalidates the cache. lib/ imports
 * from lambdas/ (environment names, metric names, the terminal-event claim), so all of lambdas/
 * is hashed: a handler edit costs a synthesis, a missed import would cost a stale template.
 */
const TEMPLATE_SOURCES = ['bin', 'lib', 'core', 'lambdas', 'cdk.json', 'package-lock.json'];

export function benchCacheDir(projectRoot: string): string {
  const directory = join(projectRoot, '.cache', 'bench');
  mkdirSync(directory, { recursive: true });
  return directory;
}

export function hashSources(projectRoot: string, sources: readonly string[]): string {
  const hash = createHash('sha256');
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name));
      return;
    }
    hash
      .update(`${relative(projectRoot, path)}\n`)
      .update(readFileSync(path))
      .update('\n');
  };
  for (const source of sources) visit(join(projectRoot, source));
  return hash.digest('hex').slice(0, 24);
}

/** The stack template of a cloud assembly directory (the one stack of the gpujobs app). */
export function templateFromAssembly(assemblyDir: string): SynthesizedTemplate {
  const manifest = JSON.parse(readFileSync(join(assemblyDir, 'manifest.json'), 'utf8')) as {
    artifacts?: Record<string, { type: string; properties?: { templateFile?: string } }>;
  };
  const stacks = Object.values(manifest.artifacts ?? {}).filter((a) => a.type === 'aws:cloudformation:stack');
  if (stacks.length !== 1 || !stacks[0]?.properties?.templateFile) {
    throw new Error(`Expected one stack in the cloud assembly at ${assemblyDir}. Received ${stacks.length}.`);
  }
  return JSON.parse(readFileSync(join(assemblyDir, stacks[0].properties.templateFile), 'utf8')) as SynthesizedTemplate;
}

/** Synthesizes the app in this process; with `bundle`, the Lambda assets are bundled too (slower). */
export async function synthesizeApp(options: {
  bundle: boolean;
}): Promise<{ assemblyDir: string; template: SynthesizedTemplate; seconds: number }> {
  const started = performance.now();
  const { createApp } = await import('../../lib/app.js');
  const assemblyDir = mkdtempSync(join(tmpdir(), 'gpujobs-bench-cdk-'));
  const { app, stack } = createApp({
    outdir: assemblyDir,
    ...(options.bundle ? {} : { context: { 'aws:cdk:bundling-stacks': [] } }),
  });
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as SynthesizedTemplate;
  return { assemblyDir, template, seconds: (performance.now() - started) / 1000 };
}

export async function loadTemplate(projectRoot: string, options: { assemblyDir?: string } = {}): Promise<LoadedTemplate> {
  if (options.assemblyDir) {
    return { template: templateFromAssembly(options.assemblyDir), assemblyDir: options.assemblyDir, source: 'assembly' };
  }
  const cacheFile = join(benchCacheDir(projectRoot), `template-${hashSources(projectRoot, TEMPLATE_SOURCES)}.json`);
  if (existsSync(cacheFile)) {
    return { template: JSON.parse(readFileSync(cacheFile, 'utf8')) as SynthesizedTemplate, source: 'cache' };
  }
  const { template, seconds, assemblyDir } = await synthesizeApp({ bundle: false });
  writeFileSync(cacheFile, JSON.stringify(template));
  rmSync(assemblyDir, { recursive: true, force: true });
  return { template, source: 'synthesized', synthSeconds: seconds };
}
