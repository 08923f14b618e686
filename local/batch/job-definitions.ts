/**
 * The Batch stand-in's job definitions: RegisterJobDefinition, DescribeJobDefinitions and
 * DeregisterJobDefinition over revisions kept in a JSON file, so that a definition registered
 * once (prepare registers one per image) survives a restart of local mode, as it does in Batch.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BatchRetryStrategy } from '../../core/retry-strategy.js';
import { ClientException } from './client-exception.js';

export interface KeyValuePair {
  readonly name: string;
  readonly value: string;
}

export interface ResourceRequirement {
  readonly type: string;
  readonly value: string;
}

/** RegisterJobDefinition's request, as the Batch REST-JSON protocol carries it. */
export interface RegisterJobDefinitionRequest {
  readonly jobDefinitionName: string;
  readonly type?: string;
  readonly parameters?: Record<string, string>;
  readonly containerProperties?: {
    readonly image?: string;
    readonly command?: readonly string[];
    readonly environment?: readonly KeyValuePair[];
    readonly resourceRequirements?: readonly ResourceRequirement[];
    readonly jobRoleArn?: string;
    readonly executionRoleArn?: string;
    readonly logConfiguration?: { readonly logDriver?: string; readonly options?: Record<string, string> };
    /** Size of /dev/shm in MiB (`docker run --shm-size`); the engine's default when absent. */
    readonly linuxParameters?: { readonly sharedMemorySize?: number; readonly [other: string]: unknown };
    readonly [other: string]: unknown;
  };
  readonly retryStrategy?: BatchRetryStrategy;
  readonly timeout?: { readonly attemptDurationSeconds?: number };
  readonly tags?: Record<string, string>;
  readonly propagateTags?: boolean;
  readonly platformCapabilities?: readonly string[];
  readonly [other: string]: unknown;
}

/** One registered revision, as DescribeJobDefinitions returns it. */
export interface JobDefinition extends RegisterJobDefinitionRequest {
  readonly jobDefinitionArn: string;
  readonly revision: number;
  readonly status: 'ACTIVE' | 'INACTIVE';
  readonly type: string;
}

/** DescribeJobDefinitions' request. */
export interface DescribeJobDefinitionsRequest {
  readonly jobDefinitions?: readonly string[];
  readonly jobDefinitionName?: string;
  readonly status?: string;
  readonly maxResults?: number;
  readonly nextToken?: string;
}

export interface JobDefinitionRegistryOptions {
  readonly account: string;
  readonly region: string;
  /** Where registered job definitions are kept across restarts. */
  readonly file: string;
}

export class JobDefinitionRegistry {
  /** Revisions by definition name, oldest first (revision n at index n - 1). */
  private readonly definitions = new Map<string, JobDefinition[]>();

  constructor(private readonly options: JobDefinitionRegistryOptions) {
    this.load();
  }

  register(request: RegisterJobDefinitionRequest): { jobDefinitionName: string; jobDefinitionArn: string; revision: number } {
    if (!request.jobDefinitionName || !/^[A-Za-z0-9_-]{1,128}$/.test(request.jobDefinitionName)) {
      throw new ClientException(
        `jobDefinitionName must be 1-128 letters, digits, hyphens or underscores. Received ${JSON.stringify(request.jobDefinitionName)}.`,
      );
    }
    const revisions = this.definitions.get(request.jobDefinitionName) ?? [];
    const revision = revisions.length + 1;
    const definition: JobDefinition = {
      ...request,
      type: request.type ?? 'container',
      jobDefinitionArn: `arn:aws:batch:${this.options.region}:${this.options.account}:job-definition/${request.jobDefinitionName}:${revision}`,
      revision,
      status: 'ACTIVE',
    };
    revisions.push(definition);
    this.definitions.set(request.jobDefinitionName, revisions);
    this.save();
    return { jobDefinitionName: request.jobDefinitionName, jobDefinitionArn: definition.jobDefinitionArn, revision };
  }

  describe(request: DescribeJobDefinitionsRequest): { jobDefinitions: JobDefinition[]; nextToken?: string } {
    let matching: JobDefinition[];
    if (request.jobDefinitions?.length) {
      matching = request.jobDefinitions.map((reference) => this.find(reference)).filter((d): d is JobDefinition => !!d);
    } else if (request.jobDefinitionName) {
      matching = [...(this.definitions.get(request.jobDefinitionName) ?? [])];
    } else {
      matching = [...this.definitions.values()].flat();
    }
    if (request.status) matching = matching.filter((definition) => definition.status === request.status);
    const start = request.nextToken ? Number(request.nextToken) : 0;
    const pageSize = Math.min(request.maxResults ?? 100, 100);
    const page = matching.slice(start, start + pageSize);
    const next = start + pageSize < matching.length ? String(start + pageSize) : undefined;
    return { jobDefinitions: page, ...(next ? { nextToken: next } : {}) };
  }

  deregister(reference: string): void {
    const definition = this.find(reference);
    if (!definition) throw new ClientException(`Job definition ${reference} does not exist.`);
    const revisions = this.definitions.get(definition.jobDefinitionName) ?? [];
    this.definitions.set(
      definition.jobDefinitionName,
      revisions.map((candidate) => (candidate.revision === definition.revision ? { ...candidate, status: 'INACTIVE' } : candidate)),
    );
    this.save();
  }

  /** An ARN, `name:revision`, or a name (its latest ACTIVE revision). */
  find(reference: string): JobDefinition | undefined {
    const arnMatch = /:job-definition\/([^:]+):(\d+)$/.exec(reference);
    const nameRevision = arnMatch ? [arnMatch[1]!, arnMatch[2]!] : reference.split(':');
    const [name, revision] = nameRevision;
    const revisions = this.definitions.get(name ?? '') ?? [];
    if (revision !== undefined) return revisions.find((definition) => definition.revision === Number(revision));
    return [...revisions].reverse().find((definition) => definition.status === 'ACTIVE');
  }

  private load(): void {
    if (!existsSync(this.options.file)) return;
    const stored = JSON.parse(readFileSync(this.options.file, 'utf8')) as JobDefinition[];
    for (const definition of stored) {
      const revisions = this.definitions.get(definition.jobDefinitionName) ?? [];
      revisions.push(definition);
      this.definitions.set(definition.jobDefinitionName, revisions);
    }
  }

  private save(): void {
    mkdirSync(dirname(this.options.file), { recursive: true });
    writeFileSync(this.options.file, JSON.stringify([...this.definitions.values()].flat()));
  }
}
