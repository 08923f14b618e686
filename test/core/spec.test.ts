import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalRequestHash } from '../../core/canonical-json.js';
import { describeImageRefusal, isImageAllowed, parseImageReference } from '../../core/image-reference.js';
import { describeReceived, parseJobSpec } from '../../core/spec.js';

const minimal = { image: 'pytorch/pytorch:2.3', command: ['python', 'train.py'] };

function errorsOf(input: unknown, options?: Parameters<typeof parseJobSpec>[1]) {
  const result = parseJobSpec(input, options);
  if (result.ok) throw new Error(`expected validation errors, got ${JSON.stringify(result.spec)}`);
  return result.errors;
}

describe('parseJobSpec', () => {
  it('applies the contract defaults to a minimal body', () => {
    // GIVEN only the required fields
    // WHEN parsed
    const result = parseJobSpec(minimal);
    // THEN every optional field has its documented default
    expect(result).toEqual({
      ok: true,
      spec: {
        image: 'pytorch/pytorch:2.3',
        command: ['python', 'train.py'],
        environment: {},
        tags: {},
        gpus: 1,
        vcpus: 4,
        memoryMiB: 15360,
        capacity: 'spot-first',
        maxSpotAttempts: 3,
        timeoutSeconds: 86400,
      },
    });
  });

  it('keeps every field of a full, valid body', () => {
    const body = {
      name: 'resnet-50_v2.1',
      image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/train:v1@sha256:${'a'.repeat(64)}`,
      command: ['python', '-c', 'print("hi")', ''],
      environment: { MY_VAR: 'x', _private: '', A1: 'v'.repeat(4096) },
      gpus: 8,
      vcpus: 192,
      memoryMiB: 2_000_000,
      sharedMemoryMiB: 2_000_000,
      capacity: 'spot-only',
      maxSpotAttempts: 10,
      timeoutSeconds: 60,
      tags: { team: 'ml', 'cost.center': '42' },
    };
    const result = parseJobSpec(body);
    expect(result).toEqual({ ok: true, spec: body });
  });

  it('leaves sharedMemoryMiB absent when not given (the engine keeps its 64 MiB default)', () => {
    const result = parseJobSpec(minimal);
    expect(result.ok && 'sharedMemoryMiB' in result.spec).toBe(false);
  });

  it('accepts as much shared memory as the job has memory', () => {
    expect(parseJobSpec({ ...minimal, memoryMiB: 8_192, sharedMemoryMiB: 8_192 })).toMatchObject({
      ok: true,
      spec: { memoryMiB: 8_192, sharedMemoryMiB: 8_192 },
    });
  });

  it('reports shared memory over memory together with another field’s problem, but not over an invalid memoryMiB', () => {
    expect(errorsOf({ ...minimal, gpus: 0, sharedMemoryMiB: 20_000 }).map((error) => error.path)).toEqual(['gpus', 'sharedMemoryMiB']);
    expect(errorsOf({ ...minimal, memoryMiB: 'lots', sharedMemoryMiB: 20_000 }).map((error) => error.path)).toEqual(['memoryMiB']);
  });

  it('does not invent a name when none is given (the API derives it from the job id)', () => {
    const result = parseJobSpec(minimal);
    expect(result.ok && 'name' in result.spec).toBe(false);
  });

  // Each rule of the contract broken once: exactly one error, on the right path.
  const badInputs: [string, Record<string, unknown>, string, RegExp][] = [
    ['name with a space', { name: 'my job' }, 'name', /received "my job"/],
    ['empty name', { name: '' }, 'name', /1 to 128/],
    ['name of 129 characters', { name: 'a'.repeat(129) }, 'name', /1 to 128/],
    ['name that is a number', { name: 5 }, 'name', /received 5/],
    ['missing image', { image: undefined }, 'image', /is required/],
    ['image that is not a reference', { image: 'Not An Image' }, 'image', /container image reference/],
    ['image longer than 512 characters', { image: `r.io/${'a'.repeat(510)}` }, 'image', /at most 512 characters, received 515 characters/],
    ['image with a malformed digest', { image: 'ubuntu@sha256:xyz' }, 'image', /container image reference/],
    ['image with upper-case repository', { image: 'docker.io/Library/Ubuntu' }, 'image', /container image reference/],
    ['missing command', { command: undefined }, 'command', /is required/],
    ['command as a shell string', { command: 'echo hi' }, 'command', /array of 1 to 256 strings, received "echo hi"/],
    ['empty command', { command: [] }, 'command', /received 0 items/],
    ['257 command items', { command: Array.from({ length: 257 }, () => 'x') }, 'command', /received 257 items/],
    ['non-string command item', { command: ['python', 7] }, 'command.1', /must be a string, received 7/],
    [
      'command item over 4096 characters',
      { command: ['x'.repeat(4097)] },
      'command.0',
      /at most 4096 characters, received 4097 characters/,
    ],
    ['environment as an array', { environment: ['A=1'] }, 'environment', /received an array/],
    ['environment name starting with a digit', { environment: { '1VAR': 'x' } }, 'environment.1VAR', /received "1VAR"/],
    ['environment name with a dash', { environment: { 'MY-VAR': 'x' } }, 'environment.MY-VAR', /\^\[A-Za-z_\]/],
    ['environment name starting with AWS_BATCH', { environment: { AWS_BATCH_JOB_ID: 'x' } }, 'environment.AWS_BATCH_JOB_ID', /AWS_BATCH/],
    ['non-string environment value', { environment: { MY_VAR: 1 } }, 'environment.MY_VAR', /must be a string, received 1/],
    [
      'environment value over 4096 characters',
      { environment: { MY_VAR: 'x'.repeat(4097) } },
      'environment.MY_VAR',
      /received 4097 characters/,
    ],
    [
      '65 environment entries',
      { environment: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x'])) },
      'environment',
      /at most 64 entries, received 65/,
    ],
    ['0 gpus', { gpus: 0 }, 'gpus', /between 1 and 8, received 0/],
    ['9 gpus', { gpus: 9 }, 'gpus', /^must be an integer between 1 and 8, received 9$/],
    ['fractional gpus', { gpus: 1.5 }, 'gpus', /integer between 1 and 8, received 1.5/],
    ['gpus as a string', { gpus: '2' }, 'gpus', /received "2"/],
    ['193 vcpus', { vcpus: 193 }, 'vcpus', /between 1 and 192, received 193/],
    ['511 MiB of memory', { memoryMiB: 511 }, 'memoryMiB', /between 512 and 2000000, received 511/],
    ['2,000,001 MiB of memory', { memoryMiB: 2_000_001 }, 'memoryMiB', /received 2000001/],
    ['63 MiB of shared memory', { sharedMemoryMiB: 63 }, 'sharedMemoryMiB', /between 64 and 2000000, received 63/],
    ['fractional shared memory', { sharedMemoryMiB: 1024.5 }, 'sharedMemoryMiB', /integer between 64 and 2000000, received 1024.5/],
    ['shared memory as a string', { sharedMemoryMiB: '1g' }, 'sharedMemoryMiB', /received "1g"/],
    [
      'more shared memory than memory',
      { memoryMiB: 8_192, sharedMemoryMiB: 8_193 },
      'sharedMemoryMiB',
      /^must not exceed memoryMiB \(8192\).*received 8193$/,
    ],
    [
      'more shared memory than the default memory',
      { sharedMemoryMiB: 15_361 },
      'sharedMemoryMiB',
      /must not exceed memoryMiB \(15360\).*received 15361/,
    ],
    ['unknown capacity policy', { capacity: 'cheapest' }, 'capacity', /spot-first, spot-only, on-demand, received "cheapest"/],
    ['0 spot attempts', { maxSpotAttempts: 0 }, 'maxSpotAttempts', /between 1 and 10, received 0/],
    ['11 spot attempts', { maxSpotAttempts: 11 }, 'maxSpotAttempts', /received 11/],
    ['59-second timeout', { timeoutSeconds: 59 }, 'timeoutSeconds', /between 60 and 1209600, received 59/],
    ['timeout over 14 days', { timeoutSeconds: 1_209_601 }, 'timeoutSeconds', /received 1209601/],
    ['tags as a string', { tags: 'team=ml' }, 'tags', /received "team=ml"/],
    ['tag key over 128 characters', { tags: { ['k'.repeat(129)]: 'v' } }, `tags.${'k'.repeat(129)}`, /received 129 characters/],
    ['tag value over 256 characters', { tags: { team: 'v'.repeat(257) } }, 'tags.team', /at most 256 characters, received 257 characters/],
    [
      '33 tags',
      { tags: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`t${i}`, 'v'])) },
      'tags',
      /at most 32 entries, received 33/,
    ],
    ['an unknown field', { gpu: 2 }, 'gpu', /not a known field/],
  ];

  it.each(badInputs)('fails on %s, naming the field', (_case, override, path, message) => {
    // GIVEN a valid body with one rule broken
    const body = { ...minimal, ...override };
    // WHEN parsed
    const errors = errorsOf(body);
    // THEN exactly one error names the offending field
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe(path);
    expect(errors[0]!.message).toMatch(message);
  });

  it('names every field of the contract, in its order, when a field is unknown', () => {
    expect(errorsOf({ ...minimal, gpu: 2 })).toEqual([
      {
        path: 'gpu',
        message:
          'is not a known field; known fields: name, image, command, environment, gpus, vcpus, memoryMiB, sharedMemoryMiB, capacity, maxSpotAttempts, timeoutSeconds, tags',
      },
    ]);
  });

  it('reports every offending field at once, one entry each', () => {
    const errors = errorsOf({ image: 'pytorch/pytorch', command: [], gpus: 9, environment: { '1A': 'x', OK: 'y' }, extra: true, other: 1 });
    expect(errors.map((error) => error.path).sort()).toEqual(['command', 'environment.1A', 'extra', 'gpus', 'other']);
  });

  it('reports a too-large environment and its bad names together', () => {
    const environment: Record<string, string> = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`V${i}`, 'x']));
    environment['bad-name'] = 'x';
    const paths = errorsOf({ ...minimal, environment }).map((error) => error.path);
    expect(paths).toEqual(expect.arrayContaining(['environment', 'environment.bad-name']));
  });

  it('never echoes an environment value in an error (it may be a secret)', () => {
    const secret = `s3cr3t-${'x'.repeat(5000)}`;
    const errors = errorsOf({ ...minimal, environment: { TOKEN: secret } });
    expect(JSON.stringify(errors)).not.toContain('s3cr3t');
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'image=ubuntu'],
    ['a number', 42],
    ['nothing', undefined],
  ])('fails on a body that is %s, at the root path', (_case, body) => {
    const errors = errorsOf(body);
    expect(errors).toEqual([{ path: '', message: expect.stringMatching(/must be a JSON object/) }]);
  });

  it('accepts any registry when no allow list is configured', () => {
    expect(parseJobSpec({ ...minimal, image: 'quay.io/someone/thing:1' }).ok).toBe(true);
  });

  it('rejects an image from a registry outside the allow list, naming the registry', () => {
    const errors = errorsOf(minimal, { allowedRegistries: ['public.ecr.aws', '123456789012.dkr.ecr.us-east-1.amazonaws.com'] });
    expect(errors).toEqual([{ path: 'image', message: expect.stringContaining('"docker.io" is not allowed') }]);
  });

  it('accepts an image from an allowed registry, and only from that host', () => {
    const options = { allowedRegistries: ['docker.io', '123456789012.dkr.ecr.us-east-1.amazonaws.com'] };
    expect(parseJobSpec(minimal, options).ok).toBe(true);
    expect(parseJobSpec({ ...minimal, image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1' }, options).ok).toBe(true);
    expect(parseJobSpec({ ...minimal, image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1' }, options).ok).toBe(false);
  });

  it('accepts 64 environment variables and 32 tags, the most it allows', () => {
    // GIVEN a body at both entry limits
    const environment = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`V${i}`, 'x']));
    const tags = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`t${i}`, 'v']));
    // WHEN parsed THEN it is valid
    expect(parseJobSpec({ ...minimal, environment, tags }).ok).toBe(true);
  });

  it.each([
    ['environment', 'must be an object of environment variable names to string values, received null'],
    ['tags', 'must be an object of tag keys to string values, received null'],
  ])('fails on %s of null with one error naming it, instead of throwing', (field, message) => {
    expect(errorsOf({ ...minimal, [field]: null })).toEqual([{ path: field, message }]);
  });

  it.each([
    ['an image that is not a string', { image: 5 }, 'image', /^must be a string, received 5$/],
    ['an empty tag key', { tags: { '': 'v' } }, 'tags.', /^tag keys must be 1 to 128 characters, received an empty key$/],
    ['a tag value that is not a string', { tags: { team: 1 } }, 'tags.team', /^must be a string, received 1$/],
  ])('fails on %s, naming the field', (_case, override, path, message) => {
    expect(errorsOf({ ...minimal, ...override })).toEqual([{ path, message: expect.stringMatching(message) }]);
  });

  it('checks an image of exactly 512 characters as a reference: valid is kept, invalid refused', () => {
    const valid = `r.io/${'a'.repeat(507)}`;
    expect(parseJobSpec({ ...minimal, image: valid }).ok).toBe(true);
    expect(errorsOf({ ...minimal, image: 'R'.repeat(512) })).toEqual([
      { path: 'image', message: expect.stringContaining('container image reference') },
    ]);
  });
});

describe('allowedRegistries', () => {
  const ECR = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
  const allows = (image: string, allowedRegistries: readonly string[]) => {
    const reference = parseImageReference(image);
    if (!reference) throw new Error(`${image} is not an image reference`);
    return isImageAllowed(reference, allowedRegistries);
  };

  it.each([
    ['ghcr.io/acme/app:1', ['ghcr.io/acme']],
    ['ghcr.io/acme/x/y', ['ghcr.io/acme']],
    ['ghcr.io/acme:1', ['ghcr.io/acme']],
    [`${ECR}/team/model:1`, [`${ECR}/team`]],
    [`${ECR}/team/nested/model@sha256:${'ab'.repeat(32)}`, [`${ECR}/team`]],
    ['ubuntu', ['docker.io/library']],
    ['ubuntu:22.04', ['index.docker.io/library']],
    ['index.docker.io/library/ubuntu', ['docker.io/library']],
    ['pytorch/pytorch:2.3', ['docker.io']],
    ['ghcr.io/anyone/anything', ['ghcr.io']],
    ['localhost:5000/team/app', ['localhost:5000/team']],
    ['ghcr.io/acme/app', ['GHCR.io/Acme/']],
    ['ghcr.io/acme/app', ['quay.io', 'ghcr.io/other', 'ghcr.io/acme']],
  ])('allows %s with %j', (image, allowedRegistries) => {
    expect(allows(image, allowedRegistries)).toBe(true);
  });

  it.each([
    ['ghcr.io/acmecorp/x', ['ghcr.io/acme']],
    ['ghcr.io/acm', ['ghcr.io/acme']],
    ['ghcr.io/x/acme/y', ['ghcr.io/acme']],
    [`${ECR}/teammate/model:1`, [`${ECR}/team`]],
    [`${ECR}/other/model:1`, [`${ECR}/team`]],
    ['attacker/miner', ['docker.io/library']],
    ['ubuntu', ['docker.io/ubuntu']],
    ['ghcr.io/acme/app', ['docker.io/acme']],
    ['ghcr.io/acme/app', ['ghcr.io.evil.example/acme']],
    ['evil.example/ghcr.io/acme/app', ['ghcr.io/acme']],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/x', [`${ECR}/team`]],
    ['dkr.ecr.us-east-1.amazonaws.com/x', ['*.dkr.ecr.us-east-1.amazonaws.com']],
    // A wildcard is not a pattern: the configuration refuses one, and the match compares hosts whole.
    [`${ECR}/x:1`, ['*.dkr.ecr.us-east-1.amazonaws.com']],
  ])('refuses %s with %j', (image, allowedRegistries) => {
    expect(allows(image, allowedRegistries)).toBe(false);
  });

  it("accepts the attack report's path entries and refuses an image outside them, at the API schema", () => {
    const options = { allowedRegistries: ['ghcr.io/acme', `${ECR}/team`, 'docker.io/library'] };

    expect(parseJobSpec({ ...minimal, image: 'ghcr.io/acme/app:1' }, options).ok).toBe(true);
    expect(parseJobSpec({ ...minimal, image: `${ECR}/team/model:1` }, options).ok).toBe(true);
    expect(parseJobSpec({ ...minimal, image: 'ubuntu:22.04' }, options).ok).toBe(true);
    expect(errorsOf({ ...minimal, image: 'attacker/miner' }, options)).toEqual([
      {
        path: 'image',
        message: expect.stringContaining('repository "attacker/miner" of registry "docker.io" is not under an allowed path'),
      },
    ]);
    expect(errorsOf({ ...minimal, image: 'quay.io/acme/app' }, options)).toEqual([
      { path: 'image', message: expect.stringContaining('registry "quay.io" is not allowed') },
    ]);
  });

  it('explains nothing for an allowed image', () => {
    expect(describeImageRefusal(parseImageReference('ghcr.io/acme/app')!, ['ghcr.io/acme'])).toBeUndefined();
  });

  it('allows every image when the list is empty (no restriction)', () => {
    expect(allows('ghcr.io/anyone/anything', [])).toBe(true);
  });

  it('reads an entry with spaces around it and several trailing slashes as the bare entry', () => {
    expect(allows('ghcr.io/acme/app', [' ghcr.io/acme// '])).toBe(true);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('gives two equivalent specs the same hash and different specs different hashes', () => {
    const first = parseJobSpec({ ...minimal, gpus: 1, tags: { b: '2', a: '1' } });
    const second = parseJobSpec({ tags: { a: '1', b: '2' }, command: ['python', 'train.py'], image: 'pytorch/pytorch:2.3' });
    const third = parseJobSpec({ ...minimal, gpus: 2 });
    if (!first.ok || !second.ok || !third.ok) throw new Error('fixtures must be valid');
    expect(canonicalRequestHash(first.spec)).toBe(canonicalRequestHash(second.spec));
    expect(canonicalRequestHash(first.spec)).not.toBe(canonicalRequestHash(third.spec));
    expect(canonicalRequestHash(first.spec)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('tells a body that sizes /dev/shm from the same body without it', () => {
    expect(canonicalRequestHash({ ...minimal, sharedMemoryMiB: 1_024 })).not.toBe(canonicalRequestHash(minimal));
  });
});

describe('parseJobSpec and keys a JSON object cannot keep', () => {
  // JSON.parse makes `__proto__` an own member; the body as the API and local mode receive it.
  const withProtoKey = (field: 'environment' | 'tags', value: unknown) =>
    JSON.parse(`{"image":"busybox","command":["true"],"${field}":{"OK":"x","__proto__":${JSON.stringify(value)}}}`) as unknown;

  it.each([
    ['an environment variable', 'environment', 'x'],
    ['an environment variable with an object value', 'environment', { x: 'y' }],
    ['a tag', 'tags', 'x'],
  ] as const)('fails when %s is named __proto__, naming it instead of dropping it', (_case, field, value) => {
    const errors = errorsOf(withProtoKey(field, value));
    expect(errors).toEqual([{ path: `${field}.__proto__`, message: expect.stringContaining('silently lose it') }]);
  });

  it('reports a __proto__ name together with the other errors of the body', () => {
    const body = JSON.parse('{"image":"busybox","command":[],"environment":{"__proto__":"x","1A":"y"}}') as unknown;
    expect(
      errorsOf(body)
        .map((error) => error.path)
        .sort(),
    ).toEqual(['command', 'environment.1A', 'environment.__proto__']);
  });

  it('keeps names a plain object does hold, such as constructor', () => {
    const result = parseJobSpec({ ...minimal, environment: { constructor: 'x', toString: 'y' } });
    expect(result.ok && result.spec.environment).toEqual({ constructor: 'x', toString: 'y' });
  });
});

describe('describeReceived', () => {
  it.each([
    ['nothing', undefined, 'nothing'],
    ['null', null, 'null'],
    ['an array', [1], 'an array'],
    ['a short string', 'abc', '"abc"'],
    ['a string of 64 characters, whole', 'x'.repeat(64), `"${'x'.repeat(64)}"`],
    ['a longer string, cut to 64 characters', 'x'.repeat(65), `"${'x'.repeat(64)}"… (65 characters)`],
    ['a number', 1.5, '1.5'],
    ['a boolean', false, 'false'],
    ['a bigint', 10n, '10'],
    ['an object', { a: 1 }, 'an object'],
    ['a function', () => 1, 'a function'],
  ])('names %s briefly', (_case, value, expected) => {
    expect(describeReceived(value)).toBe(expected);
  });
});
