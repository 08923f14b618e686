/**
 * CloudFormation intrinsic functions resolved against sample resource attributes, so the
 * infrastructure tests can read a synthesized template's policies, environment variables and
 * state machine definitions as an account would see them (test/infra/iam-template.ts). Local
 * mode and the workflow tests do not come through here: they run jobWorkflowAsl.
 */

/** A state machine definition once resolved: Amazon States Language. */
export interface StateMachineDefinition {
  readonly StartAt: string;
  readonly States: Record<string, { readonly Type: string; readonly [field: string]: unknown }>;
  readonly TimeoutSeconds?: number;
}

/** Values that `Ref` and `Fn::GetAtt` of one resource resolve to: `Ref` plus attribute names (`Arn`, `JobQueueArn`, …). */
export type ResourceAttributes = Readonly<Record<string, string>>;

export interface PseudoParameters {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly urlSuffix: string;
  readonly stackName: string;
}

export interface ResolveOptions {
  /** Logical id → what its `Ref` and attributes resolve to. */
  readonly resources: Readonly<Record<string, ResourceAttributes>>;
  /** @default partition aws, region us-east-1, account 000000000000, URL suffix amazonaws.com, stack name gpujobs */
  readonly pseudoParameters?: Partial<PseudoParameters>;
  /** Template parameter values; a parameter not given here resolves to its `Default`. */
  readonly parameters?: Readonly<Record<string, string>>;
}

export interface CloudFormationTemplate {
  readonly Resources?: Record<string, { readonly Type: string; readonly Properties?: Record<string, unknown> }>;
  readonly Parameters?: Record<string, { readonly Default?: unknown }>;
}

export class UnresolvableIntrinsicError extends Error {
  override readonly name = 'UnresolvableIntrinsicError';
}

const DEFAULT_PSEUDO_PARAMETERS: PseudoParameters = {
  partition: 'aws',
  region: 'us-east-1',
  accountId: '000000000000',
  urlSuffix: 'amazonaws.com',
  stackName: 'gpujobs',
};

const STATE_MACHINE_TYPE = 'AWS::StepFunctions::StateMachine';

/** The executable ASL of a state machine in the template, every intrinsic function resolved. */
export function resolveStateMachineDefinition(
  template: CloudFormationTemplate,
  logicalId: string,
  options: ResolveOptions,
): StateMachineDefinition {
  const resource = template.Resources?.[logicalId];
  if (!resource || resource.Type !== STATE_MACHINE_TYPE) {
    throw new UnresolvableIntrinsicError(
      `${logicalId} is not a ${STATE_MACHINE_TYPE} in the template. Received ${resource ? resource.Type : 'no resource'}.`,
    );
  }
  const properties = resource.Properties ?? {};
  const resolver = new IntrinsicResolver(template, options, `${logicalId}`);

  let definition: unknown;
  if (properties.DefinitionString !== undefined) {
    const text = resolver.resolve(properties.DefinitionString, 'DefinitionString');
    if (typeof text !== 'string') {
      throw new UnresolvableIntrinsicError(`DefinitionString of ${logicalId} resolved to ${typeof text}, not a string.`);
    }
    const substitutions = resolver.resolve(properties.DefinitionSubstitutions ?? {}, 'DefinitionSubstitutions');
    const substituted = substituteDefinition(text, substitutions as Record<string, unknown>, logicalId);
    try {
      definition = JSON.parse(substituted);
    } catch (error) {
      throw new UnresolvableIntrinsicError(`DefinitionString of ${logicalId} is not JSON once resolved.`, { cause: error });
    }
  } else if (properties.Definition !== undefined) {
    definition = resolver.resolve(properties.Definition, 'Definition');
  } else {
    throw new UnresolvableIntrinsicError(
      `${logicalId} has neither DefinitionString nor Definition (a definition in S3 cannot be resolved offline).`,
    );
  }

  if (!isAslShape(definition)) {
    throw new UnresolvableIntrinsicError(`The definition of ${logicalId} has no StartAt and States.`);
  }
  return definition;
}

/**
 * Any value of the template (a policy document, an environment variable) with every intrinsic
 * function resolved the way state machine definitions are; `owner` names the value in errors.
 */
export function resolveTemplateValue(template: CloudFormationTemplate, value: unknown, options: ResolveOptions, owner: string): unknown {
  return new IntrinsicResolver(template, options, owner).resolve(value, owner);
}

class IntrinsicResolver {
  private readonly pseudo: PseudoParameters;

  constructor(
    private readonly template: CloudFormationTemplate,
    private readonly options: ResolveOptions,
    private readonly owner: string,
  ) {
    this.pseudo = { ...DEFAULT_PSEUDO_PARAMETERS, ...options.pseudoParameters };
  }

  resolve(value: unknown, where: string): unknown {
    if (Array.isArray(value)) return value.map((item, i) => this.resolve(item, `${where}[${i}]`));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    const [key, argument] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
      return this.intrinsic(key, argument, value, where);
    }
    const resolved: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const r = this.resolve(v, `${where}.${k}`);
      if (r !== NO_VALUE) resolved[k] = r;
    }
    return resolved;
  }

  private intrinsic(name: string, argument: unknown, whole: unknown, where: string): unknown {
    switch (name) {
      case 'Ref':
        return this.ref(argument, whole, where);
      case 'Fn::GetAtt':
        return this.getAtt(argument, whole, where);
      case 'Fn::Join': {
        const [separator, parts] = this.expectArray(argument, 2, whole, where);
        const list = this.resolve(parts, where);
        if (typeof separator !== 'string' || !Array.isArray(list)) throw this.fail(whole, where, 'malformed Fn::Join');
        return list.map((part) => this.expectString(part, whole, where)).join(separator);
      }
      case 'Fn::Sub':
        return this.sub(argument, whole, where);
      case 'Fn::Select': {
        const [index, list] = this.expectArray(argument, 2, whole, where);
        const resolvedList = this.resolve(list, where);
        const i = Number(this.resolve(index, where));
        if (!Array.isArray(resolvedList) || !Number.isInteger(i) || i < 0 || i >= resolvedList.length) {
          throw this.fail(whole, where, 'Fn::Select index out of range');
        }
        return resolvedList[i];
      }
      case 'Fn::Split': {
        const [separator, text] = this.expectArray(argument, 2, whole, where);
        if (typeof separator !== 'string') throw this.fail(whole, where, 'malformed Fn::Split');
        return this.expectString(this.resolve(text, where), whole, where).split(separator);
      }
      default:
        throw this.fail(whole, where, `${name} is not supported offline`);
    }
  }

  private ref(target: unknown, whole: unknown, where: string): unknown {
    if (typeof target !== 'string') throw this.fail(whole, where, 'Ref needs a name');
    switch (target) {
      case 'AWS::Partition':
        return this.pseudo.partition;
      case 'AWS::Region':
        return this.pseudo.region;
      case 'AWS::AccountId':
        return this.pseudo.accountId;
      case 'AWS::URLSuffix':
        return this.pseudo.urlSuffix;
      case 'AWS::StackName':
        return this.pseudo.stackName;
      case 'AWS::StackId':
        return `arn:${this.pseudo.partition}:cloudformation:${this.pseudo.region}:${this.pseudo.accountId}:stack/${this.pseudo.stackName}/00000000-0000-0000-0000-000000000000`;
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    const parameter = this.template.Parameters?.[target];
    if (parameter) {
      const value = this.options.parameters?.[target] ?? parameter.Default;
      if (value === undefined) throw this.fail(whole, where, `parameter ${target} has no value and no Default`);
      return value;
    }
    return this.attribute(target, 'Ref', whole, where);
  }

  private getAtt(argument: unknown, whole: unknown, where: string): string {
    let logicalId: unknown;
    let attribute: unknown;
    if (typeof argument === 'string') {
      const dot = argument.indexOf('.');
      [logicalId, attribute] = [argument.slice(0, dot), argument.slice(dot + 1)];
    } else if (Array.isArray(argument)) {
      [logicalId, attribute] = [argument[0], this.resolve(argument[1], where)];
    }
    if (typeof logicalId !== 'string' || typeof attribute !== 'string' || !logicalId || !attribute) {
      throw this.fail(whole, where, 'malformed Fn::GetAtt');
    }
    return this.attribute(logicalId, attribute, whole, where);
  }

  private attribute(logicalId: string, attribute: string, whole: unknown, where: string): string {
    const value = this.options.resources[logicalId]?.[attribute];
    if (value !== undefined) return value;
    const resource = this.template.Resources?.[logicalId];
    const what = resource ? `${logicalId} (${resource.Type})` : `${logicalId}, which is not in the template`;
    throw this.fail(whole, where, `no ${attribute === 'Ref' ? 'Ref value' : `attribute ${attribute}`} given for ${what}`);
  }

  private sub(argument: unknown, whole: unknown, where: string): string {
    const [text, variables] = typeof argument === 'string' ? [argument, {}] : this.expectArray(argument, 2, whole, where);
    if (typeof text !== 'string') throw this.fail(whole, where, 'malformed Fn::Sub');
    const resolvedVariables = this.resolve(variables ?? {}, where) as Record<string, unknown>;
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_match, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (name in resolvedVariables) return this.expectString(resolvedVariables[name], whole, where);
      const dot = name.indexOf('.');
      if (dot > 0 && !name.startsWith('AWS::')) return this.attribute(name.slice(0, dot), name.slice(dot + 1), whole, where);
      return this.expectString(this.ref(name, whole, where), whole, where);
    });
  }

  private expectArray(value: unknown, length: number, whole: unknown, where: string): unknown[] {
    if (!Array.isArray(value) || value.length !== length) throw this.fail(whole, where, `expected a list of ${length}`);
    return value;
  }

  private expectString(value: unknown, whole: unknown, where: string): string {
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw this.fail(whole, where, `expected a string, got ${JSON.stringify(value)}`);
  }

  private fail(whole: unknown, where: string, reason: string): UnresolvableIntrinsicError {
    return new UnresolvableIntrinsicError(`Cannot resolve ${JSON.stringify(whole)} in ${where} of ${this.owner}: ${reason}.`);
  }
}

const NO_VALUE = Symbol('AWS::NoValue');

/** `${name}` placeholders of DefinitionSubstitutions; Step Functions leaves unknown ones (e.g. in States.Format) alone. */
function substituteDefinition(text: string, substitutions: Record<string, unknown>, logicalId: string): string {
  return text.replace(/\$\{([^}]+)\}/g, (match, name: string) => {
    if (!(name in substitutions)) return match;
    const value = substitutions[name];
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new UnresolvableIntrinsicError(`DefinitionSubstitutions.${name} of ${logicalId} is not a scalar.`);
    }
    // The placeholder sits inside a JSON string literal: escape like JSON would.
    return JSON.stringify(String(value)).slice(1, -1);
  });
}

function isAslShape(value: unknown): value is StateMachineDefinition {
  if (!value || typeof value !== 'object') return false;
  const candidate = value as { StartAt?: unknown; States?: unknown };
  return typeof candidate.StartAt === 'string' && !!candidate.States && typeof candidate.States === 'object';
}
