/**
 * Settings read from the synthesized template rather than restated here, so the benchmarks
 * follow the stack when its defaults change.
 */
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { jobWorkflowAsl } from '../../lib/workflow/job-workflow.js';
import { localWorkflowArns } from '../../local/workflow-definition.js';
import { BENCH_ACCOUNT, BENCH_REGION } from './aws-env.js';
import type { SynthesizedTemplate, TemplateResource } from './template.js';

/** The job workflow as the stack deploys it (jobWorkflowAsl), wired to local mode's ARNs in the bench account. */
export function benchWorkflow(): { definition: StateMachineDefinition; stateMachineArn: string } {
  const { stateMachineArn, ...arns } = localWorkflowArns(BENCH_REGION, BENCH_ACCOUNT);
  return { definition: jobWorkflowAsl(arns) as unknown as StateMachineDefinition, stateMachineArn };
}

/**
 * The function each Lambda task state of the template's state machine invokes, by logical id.
 * CDK writes the definition as JSON text joined around the functions' Fn::GetAtt; with each of
 * those replaced by a marker, the text parses, and a state's Resource names its marker.
 */
export function workflowTaskFunctions(template: SynthesizedTemplate, stateNames: readonly string[]): Record<string, string> {
  const machines = resourcesOfType(template, 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) throw new Error(`Expected one state machine in the template. Received ${machines.length}.`);
  const join = (machines[0]![1].Properties?.DefinitionString as { 'Fn::Join'?: [string, unknown[]] } | undefined)?.['Fn::Join'];
  if (!join)
    throw new Error(
      `The state machine's DefinitionString is not an Fn::Join. Received ${JSON.stringify(machines[0]![1].Properties?.DefinitionString)}.`,
    );
  const parts = join[1];
  const text = parts.map((part, index) => (typeof part === 'string' ? part : `@@part-${index}@@`)).join(join[0]);
  const states = (JSON.parse(text) as { States: Record<string, { Resource?: string }> }).States;
  const functions: Record<string, string> = {};
  for (const state of stateNames) {
    const marker = /^@@part-(\d+)@@$/.exec(states[state]?.Resource ?? '');
    const [id] = marker ? [...referencedLogicalIds(parts[Number(marker[1])])] : [];
    if (!id || template.Resources[id]?.Type !== 'AWS::Lambda::Function') {
      throw new Error(`The ${state} state invokes no function of the template. Received ${JSON.stringify(states[state]?.Resource)}.`);
    }
    functions[state] = id;
  }
  return functions;
}

/** Logical ids a template value points at through Ref, Fn::GetAtt or Fn::Sub. */
export function referencedLogicalIds(value: unknown): Set<string> {
  const ids = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
      if (key === 'Ref' && typeof child === 'string') ids.add(child);
      else if (key === 'Fn::GetAtt') {
        const target = Array.isArray(child) ? child[0] : typeof child === 'string' ? child.split('.')[0] : undefined;
        if (typeof target === 'string') ids.add(target);
      } else if (key === 'Fn::Sub') {
        const text = Array.isArray(child) ? child[0] : child;
        if (typeof text === 'string') for (const match of text.matchAll(/\$\{([A-Za-z0-9]+)(\.[^}]*)?\}/g)) ids.add(match[1]!);
        visit(child);
      } else visit(child);
    }
  };
  visit(value);
  return ids;
}

export function resourcesOfType(template: SynthesizedTemplate, type: string): [string, TemplateResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

export interface DispatcherEventSource {
  readonly functionLogicalId: string;
  readonly queueLogicalId: string;
  readonly batchSize: number;
  readonly maximumConcurrency: number;
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount: number;
}

/** The SQS event source mapping of the dispatcher (the template's only SQS-fed function). */
export function dispatcherEventSource(template: SynthesizedTemplate): DispatcherEventSource {
  const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').filter(([, r]) =>
    [...referencedLogicalIds(r.Properties?.EventSourceArn)].some((id) => template.Resources[id]?.Type === 'AWS::SQS::Queue'),
  );
  if (mappings.length !== 1) throw new Error(`Expected one SQS event source mapping in the template. Found ${mappings.length}.`);
  const [, mapping] = mappings[0]!;
  const functionLogicalId = [...referencedLogicalIds(mapping.Properties?.FunctionName)][0];
  const queueLogicalId = [...referencedLogicalIds(mapping.Properties?.EventSourceArn)].find(
    (id) => template.Resources[id]?.Type === 'AWS::SQS::Queue',
  );
  if (!functionLogicalId || !queueLogicalId) throw new Error('The SQS event source mapping names no function or queue.');
  const queue = template.Resources[queueLogicalId]?.Properties ?? {};
  const redrive = queue.RedrivePolicy as { maxReceiveCount?: unknown } | undefined;
  return {
    functionLogicalId,
    queueLogicalId,
    // Lambda's defaults when the template leaves them out.
    batchSize: Number(mapping.Properties?.BatchSize ?? 10),
    maximumConcurrency: Number(
      (mapping.Properties?.ScalingConfig as { MaximumConcurrency?: unknown } | undefined)?.MaximumConcurrency ?? 1000,
    ),
    visibilityTimeoutSeconds: Number(queue.VisibilityTimeout ?? 30),
    maxReceiveCount: Number(redrive?.maxReceiveCount ?? Infinity),
  };
}

export type FunctionRole = 'api' | 'dispatcher' | 'prepare' | 'settleAttempt' | 'finish' | 'batchEvents' | 'reconcile';

export interface StackFunction {
  readonly logicalId: string;
  readonly role: FunctionRole;
  readonly memoryMiB: number;
  readonly architecture: string;
  readonly logGroupLogicalId?: string;
}

/**
 * The gpujobs functions by what calls them: the HTTP API's integration (api), the SQS event
 * source (dispatcher), the workflow's Lambda tasks (by state name), and the EventBridge rules
 * on aws.batch (batch events) and aws.states (reconcile).
 */
export function stackFunctions(
  template: SynthesizedTemplate,
  workflowTaskFunctions: Readonly<Record<string, 'prepare' | 'settleAttempt' | 'finish'>>,
): StackFunction[] {
  const roles = new Map<string, FunctionRole>();
  for (const [, integration] of resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')) {
    for (const id of referencedLogicalIds(integration.Properties?.IntegrationUri))
      if (template.Resources[id]?.Type === 'AWS::Lambda::Function') roles.set(id, 'api');
  }
  roles.set(dispatcherEventSource(template).functionLogicalId, 'dispatcher');
  for (const [id, role] of Object.entries(workflowTaskFunctions)) roles.set(id, role);
  for (const [, rule] of resourcesOfType(template, 'AWS::Events::Rule')) {
    const sources = (rule.Properties?.EventPattern as { source?: unknown } | undefined)?.source;
    const role: FunctionRole | undefined =
      Array.isArray(sources) && sources.includes('aws.batch')
        ? 'batchEvents'
        : Array.isArray(sources) && sources.includes('aws.states')
          ? 'reconcile'
          : undefined;
    if (!role) continue;
    for (const id of referencedLogicalIds(rule.Properties?.Targets))
      if (template.Resources[id]?.Type === 'AWS::Lambda::Function') roles.set(id, role);
  }
  const functions: StackFunction[] = [];
  for (const [logicalId, role] of roles) {
    const properties = template.Resources[logicalId]?.Properties ?? {};
    const logGroupLogicalId = [...referencedLogicalIds((properties.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup)][0];
    functions.push({
      logicalId,
      role,
      memoryMiB: Number(properties.MemorySize ?? 128),
      architecture: String((properties.Architectures as unknown[] | undefined)?.[0] ?? 'x86_64'),
      ...(logGroupLogicalId ? { logGroupLogicalId } : {}),
    });
  }
  return functions;
}
