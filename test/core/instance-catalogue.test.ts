import { describe, expect, it } from 'vitest';
import {
  describeMisfit,
  fits,
  formatJobShapes,
  INSTANCE_TYPE_SPECS,
  instanceTypeSpec,
  instanceTypesNotOffered,
  InvalidJobShapesError,
  largestShape,
  parseJobShapes,
  placeableShapes,
  REGIONAL_OFFERINGS,
  regionsOffering,
  shapesOf,
  UnknownInstanceTypeError,
  usableMemoryMiB,
  type JobShape,
} from '../../core/instance-catalogue.js';
import { JOB_SPEC_DEFAULTS } from '../../core/spec.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';

const shape = (label: string, gpus: number, vcpus: number, memoryMiB: number): JobShape => ({ label, gpus, vcpus, memoryMiB });

describe('the instance catalogue data', () => {
  it('carries its sources and the date they were read, for both tables', () => {
    expect(INSTANCE_TYPE_SPECS.sources.every((url) => url.startsWith('https://'))).toBe(true);
    expect(INSTANCE_TYPE_SPECS.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(REGIONAL_OFFERINGS.source).toMatch(/^https:\/\/github\.com\/aws-cloudformation\/cfn-lint\/blob\/[0-9a-f]{40}\//);
    expect(REGIONAL_OFFERINGS.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  // An independent reading of the EC2/Batch specification tables.
  it.each([
    ['g4dn.xlarge', 'NVIDIA T4', 1, 16, 4, 16],
    ['g4dn.12xlarge', 'NVIDIA T4', 4, 16, 48, 192],
    ['g4dn.16xlarge', 'NVIDIA T4', 1, 16, 64, 256],
    ['g5.xlarge', 'NVIDIA A10G', 1, 24, 4, 16],
    ['g5.12xlarge', 'NVIDIA A10G', 4, 24, 48, 192],
    ['g5.48xlarge', 'NVIDIA A10G', 8, 24, 192, 768],
    ['g6.8xlarge', 'NVIDIA L4', 1, 24, 32, 128],
    ['g6.12xlarge', 'NVIDIA L4', 4, 24, 48, 192],
    ['g6e.xlarge', 'NVIDIA L40S', 1, 48, 4, 32],
    ['g6e.48xlarge', 'NVIDIA L40S', 8, 48, 192, 1536],
  ])('holds %s as %s × %i (%i GiB each), %i vCPUs, %i GiB', (type, gpuModel, gpus, gpuMemoryGiB, vcpus, memoryGiB) => {
    expect(instanceTypeSpec(type)).toEqual({ gpuModel, gpus, gpuMemoryGiB, vcpus, memoryMiB: memoryGiB * 1024 });
  });

  it('has regional data for every family it specifies, naming only regions the source lists', () => {
    const families = new Set(Object.keys(INSTANCE_TYPE_SPECS.types).map((type) => type.split('.')[0]!));
    expect(new Set(Object.keys(REGIONAL_OFFERINGS.families))).toEqual(families);
    for (const regions of Object.values(REGIONAL_OFFERINGS.families)) {
      expect(regions.filter((region) => !(REGIONAL_OFFERINGS.regions as readonly string[]).includes(region))).toEqual([]);
    }
  });

  it('knows nothing of a type it has no source for', () => {
    expect(instanceTypeSpec('p5.48xlarge')).toBeUndefined();
    expect(instanceTypeSpec('toString')).toBeUndefined();
  });
});

describe('usableMemoryMiB', () => {
  it('leaves 5% of installed memory to the kernel, the ECS agent and its reserve', () => {
    expect(usableMemoryMiB({ memoryMiB: 16_384 })).toBe(15_564);
    expect(usableMemoryMiB({ memoryMiB: 196_608 })).toBe(186_777);
  });

  it("errs below what Batch's own example registers (7,985 MiB less the 32 MiB reserve of 8 GiB)", () => {
    expect(usableMemoryMiB({ memoryMiB: 8_192 })).toBeLessThanOrEqual(7_985 - 32);
  });

  it('fits the default job shape on the smallest default instance type', () => {
    const smallest = shapesOf(DEFAULT_CONFIG.gpuInstanceTypes).sort((a, b) => a.memoryMiB - b.memoryMiB)[0]!;

    expect(smallest.label).toMatch(/\.xlarge$/);
    expect(fits(JOB_SPEC_DEFAULTS, [smallest])).toMatchObject({ fits: true });
  });
});

describe('shapesOf', () => {
  it('gives each type its GPUs, vCPUs and usable memory', () => {
    expect(shapesOf(['g5.12xlarge'])).toEqual([shape('g5.12xlarge', 4, 48, 186_777)]);
  });

  it('fails when a type is not in the catalogue, listing the known ones', () => {
    expect(() => shapesOf(['g5.xlarge', 'g9.huge'])).toThrow(UnknownInstanceTypeError);
    expect(() => shapesOf(['g9.huge'])).toThrow(/"g9\.huge" is not in the instance catalogue\. Known types: g4dn\.xlarge, /);
  });
});

describe('placeableShapes', () => {
  it('reduces the default instance types to the one shape that holds every job any of them holds', () => {
    expect(placeableShapes(shapesOf(DEFAULT_CONFIG.gpuInstanceTypes))).toEqual([
      shape('g4dn.12xlarge, g5.12xlarge, g6.12xlarge', 4, 48, 186_777),
    ]);
  });

  it('keeps shapes that are each larger in some resource', () => {
    const manyGpus = shape('a', 4, 48, 1000);
    const manyVcpus = shape('b', 1, 64, 1000);
    const contained = shape('c', 1, 32, 900);

    expect(placeableShapes([contained, manyGpus, manyVcpus])).toEqual([manyGpus, manyVcpus]);
  });
});

describe('largestShape', () => {
  it('takes the most of each resource, wherever it is', () => {
    expect(largestShape([shape('a', 4, 48, 1000), shape('b', 1, 64, 2000)])).toEqual({ gpus: 4, vcpus: 64, memoryMiB: 2000 });
  });
});

describe('fits', () => {
  const shapes = shapesOf(['g5.12xlarge', 'g5.16xlarge']);
  const job = (gpus: number, vcpus: number, memoryMiB: number) => ({ gpus, vcpus, memoryMiB });

  it('finds a type that holds the job', () => {
    expect(fits(job(4, 48, 180_000), shapes)).toEqual({ fits: true, on: shapes[0] });
    expect(fits(job(1, 64, 240_000), shapes)).toEqual({ fits: true, on: shapes[1] });
  });

  it('fails on gpus when no type has that many, naming the most and where', () => {
    const result = fits(job(8, 4, 1024), shapes);

    expect(result).toEqual({ fits: false, field: 'gpus', requested: 8, largest: 4, on: [shapes[0]] });
    expect(describeMisfit(result as Extract<typeof result, { fits: false }>, job(8, 4, 1024))).toBe(
      'the most available is 4 GPUs (g5.12xlarge); received 8',
    );
  });

  it('fails on vcpus counting only the types with the GPUs asked for', () => {
    // g5.16xlarge has 64 vCPUs, but only 1 GPU.
    const result = fits(job(4, 64, 1024), shapes);

    expect(result).toMatchObject({ fits: false, field: 'vcpus', requested: 64, largest: 48 });
    expect(describeMisfit(result as Extract<typeof result, { fits: false }>, job(4, 64, 1024))).toBe(
      'with 4 GPUs, the most available is 48 vCPUs (g5.12xlarge); received 64',
    );
  });

  it('fails on memoryMiB counting only the types with the GPUs and vCPUs asked for', () => {
    const result = fits(job(1, 64, 250_000), shapes);

    expect(result).toMatchObject({ fits: false, field: 'memoryMiB', requested: 250_000, largest: 249_036 });
    expect(describeMisfit(result as Extract<typeof result, { fits: false }>, job(1, 64, 250_000))).toBe(
      'with 1 GPU and 64 vCPUs, the most available is 249036 MiB of memory (g5.16xlarge); received 250000',
    );
  });

  it('fails on gpus when there is no shape at all', () => {
    expect(fits(job(1, 1, 512), [])).toMatchObject({ fits: false, field: 'gpus', largest: 0 });
  });
});

describe('instanceTypesNotOffered', () => {
  it('names the types a region does not offer, in the order given', () => {
    expect(instanceTypesNotOffered(['g6.xlarge', 'g5.xlarge', 'g6.12xlarge'], 'eu-west-1')).toEqual(['g6.xlarge', 'g6.12xlarge']);
    expect(instanceTypesNotOffered(['g4dn.xlarge'], 'ap-east-2')).toEqual(['g4dn.xlarge']);
  });

  it('finds every default type offered in us-east-1', () => {
    expect(instanceTypesNotOffered(DEFAULT_CONFIG.gpuInstanceTypes, 'us-east-1')).toEqual([]);
  });

  it('says nothing about a region its source does not list', () => {
    expect(instanceTypesNotOffered(['g5.xlarge'], 'xx-nowhere-9')).toBeUndefined();
  });

  it('treats a family it has no regional data for as not offered', () => {
    expect(instanceTypesNotOffered(['g9.xlarge'], 'us-east-1')).toEqual(['g9.xlarge']);
  });
});

describe('regionsOffering', () => {
  it('lists the regions where every default type is offered', () => {
    expect(regionsOffering(DEFAULT_CONFIG.gpuInstanceTypes)).toEqual([
      'ap-northeast-1',
      'ap-northeast-2',
      'ap-south-1',
      'ap-southeast-2',
      'ca-central-1',
      'eu-central-1',
      'eu-north-1',
      'eu-west-2',
      'eu-west-3',
      'sa-east-1',
      'us-east-1',
      'us-east-2',
      'us-west-2',
    ]);
  });
});

describe('job shapes in an environment variable', () => {
  it('read back what was written', () => {
    const shapes = [shape('g5.12xlarge', 4, 48, 186_777), shape('the 2 local GPU slots', 2, 192, 2_000_000)];

    expect(parseJobShapes(formatJobShapes(shapes), 'JOB_SHAPES')).toEqual(shapes);
  });

  it.each([
    ['not JSON', 'g5.xlarge'],
    ['an empty list', '[]'],
    ['an object', '{"gpus":1}'],
    ['a shape without a label', '[{"gpus":1,"vcpus":4,"memoryMiB":1024}]'],
    ['zero GPUs', '[{"label":"x","gpus":0,"vcpus":4,"memoryMiB":1024}]'],
    ['fractional vCPUs', '[{"label":"x","gpus":1,"vcpus":1.5,"memoryMiB":1024}]'],
  ])('fails when given %s, naming where it came from and what it was', (_, text) => {
    expect(() => parseJobShapes(text, 'Environment variable JOB_SHAPES')).toThrow(InvalidJobShapesError);
    expect(() => parseJobShapes(text, 'Environment variable JOB_SHAPES')).toThrow(
      `Environment variable JOB_SHAPES must be a non-empty JSON list`,
    );
    expect(() => parseJobShapes(text, 'Environment variable JOB_SHAPES')).toThrow(`Received ${JSON.stringify(text)}.`);
  });
});
