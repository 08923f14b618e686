/**
 * canonicalJson is what stored idempotency request hashes and registered job-definition names
 * are computed from, so its output must stay byte for byte what the two implementations it
 * replaced wrote. Both are kept here, verbatim, as the references.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalRequestHash } from '../../core/canonical-json.js';
import {
  jobDefinitionContent,
  jobDefinitionName,
  type JobDefinitionSettings,
  type JobDefinitionSpec,
} from '../../lambdas/prepare/job-definitions.js';

/** The former request-hash canonicalJson. */
function requestHashReference(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** The former lambdas/workflow/job-definitions.ts canonicalJson (job-definition names). */
function jobDefinitionReference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jobDefinitionReference).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${jobDefinitionReference(entry)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const SEED = 20_251_202;

/** Keys JavaScript orders specially or that a body can carry: array indices and near misses, __proto__, lone surrogates. */
const edgeKey = fc.constantFrom(
  '__proto__',
  'constructor',
  '',
  '0',
  '9',
  '10',
  '01',
  '-1',
  '1e3',
  ' 1',
  '4294967294',
  '4294967295',
  '\ud800',
  'é',
  'E',
);
const anyKey = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.nat().map(String), edgeKey);
const plainKey = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), edgeKey).filter((key) => !/^(0|[1-9][0-9]*)$/.test(key));

function jsonCorpus(key: fc.Arbitrary<string>, member: fc.Arbitrary<unknown>) {
  return fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constant(null),
      fc.boolean(),
      fc.double(),
      fc.integer(),
      fc.string({ unit: 'binary' }),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(key, fc.oneof(tie('value'), member), { maxKeys: 6, noNullPrototype: true }),
    ),
  })).value;
}

describe('canonicalJson, against the implementations it replaced', () => {
  it('writes what the request-hash implementation wrote for any JSON value, undefined and Date members included', () => {
    fc.assert(
      fc.property(jsonCorpus(anyKey, fc.oneof(fc.constant(undefined), fc.date({ noInvalidDate: true }))), (value) => {
        expect(canonicalJson(value)).toBe(requestHashReference(value));
      }),
      { numRuns: 3_000, seed: SEED },
    );
  });

  it('writes what the request-hash implementation wrote for bodies as JSON.parse reads them, own __proto__ members included', () => {
    fc.assert(
      fc.property(jsonCorpus(anyKey, fc.constant(null)), (value) => {
        const body = JSON.parse(JSON.stringify(value)) as unknown;
        expect(canonicalJson(body)).toBe(requestHashReference(body));
      }),
      { numRuns: 1_000, seed: SEED },
    );
  });

  it('writes what the job-definition implementation wrote for content without array-index keys', () => {
    fc.assert(
      fc.property(jsonCorpus(plainKey, fc.constant(undefined)), (value) => {
        expect(canonicalJson(value)).toBe(jobDefinitionReference(value));
      }),
      { numRuns: 3_000, seed: SEED },
    );
  });

  it('names a job definition as before for any image, resources and settings', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const spec = fc.record<JobDefinitionSpec>({ image: text, gpus: fc.nat(8), vcpus: fc.nat(192), memoryMiB: fc.nat(2_000_000) });
    const settings = fc.record<JobDefinitionSettings>({
      namePrefix: fc.constantFrom('gpujobs-', 'gpujobs', 'x_'),
      jobRoleArn: text,
      executionRoleArn: text,
      logGroupName: text,
    });
    fc.assert(
      fc.property(spec, settings, (definition, deployment) => {
        const name = jobDefinitionName(definition, deployment);
        const referenceHash = createHash('sha256')
          .update(jobDefinitionReference(jobDefinitionContent(definition, deployment)))
          .digest('hex')
          .slice(0, 32);
        expect(name.endsWith(referenceHash)).toBe(true);
      }),
      { numRuns: 500, seed: SEED },
    );
  });
});

describe('canonicalJson', () => {
  it('puts array-index keys first by value, then the other keys by code unit, as JSON.parse then JSON.stringify would keep them', () => {
    const json = canonicalJson({ b: 1, '10': 2, a: 3, '9': 4, '-1': 5, '01': 6, '4294967295': 7 });

    expect(json).toBe('{"9":4,"10":2,"-1":5,"01":6,"4294967295":7,"a":3,"b":1}');
    expect(JSON.stringify(JSON.parse(json))).toBe(json);
  });

  it('fails on a value with a cycle, as JSON.stringify does', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;

    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
  });

  it('fails on a value JSON cannot hold at the top level, naming its type', () => {
    expect(() => canonicalJson(undefined)).toThrow('received undefined');
  });

  it('hashes the same body the same whatever order its members came in', () => {
    expect(canonicalRequestHash(JSON.parse('{"tags":{"10":"x","b":"y","9":"z"},"image":"busybox"}'))).toBe(
      canonicalRequestHash(JSON.parse('{"image":"busybox","tags":{"b":"y","9":"z","10":"x"}}')),
    );
  });
});

describe('canonicalJson and __proto__ members', () => {
  it('keeps a __proto__ member, so bodies that differ only there hash differently', () => {
    const withMember = JSON.parse('{"a":1,"__proto__":{"b":2}}') as unknown;
    expect(canonicalJson(withMember)).toBe('{"__proto__":{"b":2},"a":1}');
    expect(canonicalRequestHash(withMember)).not.toBe(canonicalRequestHash({ a: 1 }));
  });
});
