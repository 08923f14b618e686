/**
 * The GPU instance types gpujobs can run jobs on, as data: what each holds (GPUs, GPU memory,
 * vCPUs, memory, and the memory Batch can give a job) and the regions each is offered in.
 * Synthesis checks the configured types against it (known type, offered in the region, maxVcpus
 * big enough), and the API checks every submission against the largest job a configured type can
 * hold, so a job no instance can run is refused at once instead of waiting RUNNABLE until Batch
 * cancels it.
 *
 * Refresh both tables from their sources when AWS adds sizes, families or regions; a type missing
 * here is refused by the configuration check (with the list of known ones), never guessed at.
 */

export interface InstanceTypeSpec {
  /** NVIDIA GPU model. */
  readonly gpuModel: string;
  readonly gpus: number;
  /** Memory of each GPU, GiB. */
  readonly gpuMemoryGiB: number;
  readonly vcpus: number;
  /** Installed memory, MiB. */
  readonly memoryMiB: number;
}

/** The biggest job one place can hold: an instance type, or local mode's GPU slots. */
export interface JobShape {
  /** Where: instance type names, or a description of the local slots. */
  readonly label: string;
  readonly gpus: number;
  readonly vcpus: number;
  /** Memory a job may ask for there (for an instance type, its usableMemoryMiB). */
  readonly memoryMiB: number;
}

const GiB = 1024;

/** GPU count, vCPUs and installed memory (GiB) of one size. */
type Size = readonly [gpus: number, vcpus: number, memoryGiB: number];

function family(
  gpuModel: string,
  gpuMemoryGiB: number,
  sizes: Readonly<Record<string, Size>>,
  name: string,
): Record<string, InstanceTypeSpec> {
  return Object.fromEntries(
    Object.entries(sizes).map(([size, [gpus, vcpus, memoryGiB]]) => [
      `${name}.${size}`,
      { gpuModel, gpus, gpuMemoryGiB, vcpus, memoryMiB: memoryGiB * GiB },
    ]),
  );
}

// G4dn, G5 and G6 share their sizes up to 16xlarge; G5 and G6 go on to 48xlarge; each G6e size
// has the G6 size's GPUs and vCPUs with twice the memory.
const G4DN_SIZES: Readonly<Record<string, Size>> = {
  xlarge: [1, 4, 16],
  '2xlarge': [1, 8, 32],
  '4xlarge': [1, 16, 64],
  '8xlarge': [1, 32, 128],
  '12xlarge': [4, 48, 192],
  '16xlarge': [1, 64, 256],
};
const G5_G6_SIZES: Readonly<Record<string, Size>> = { ...G4DN_SIZES, '24xlarge': [4, 96, 384], '48xlarge': [8, 192, 768] };
const G6E_SIZES: Readonly<Record<string, Size>> = Object.fromEntries(
  Object.entries(G5_G6_SIZES).map(([size, [gpus, vcpus, memoryGiB]]) => [size, [gpus, vcpus, memoryGiB * 2]]),
);

/**
 * Specifications per instance type: the virtualized sizes of the G families the ECS AL2023 NVIDIA
 * image runs on. P4d and P5 are not here yet: add them the same way, from the same sources.
 */
export const INSTANCE_TYPE_SPECS = {
  sources: [
    // g4dn, g5, g6: GPUs, GPU memory (the table gives the instance total), vCPUs, memory.
    'https://docs.aws.amazon.com/batch/latest/userguide/gpu-jobs.html',
    'https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html',
    // L40S GPU memory.
    'https://docs.aws.amazon.com/deadline-cloud/latest/APIReference/API_AcceleratorSelection.html',
    // g6e sizes (vCPUs, memory, GPUs).
    'https://github.com/meta-pytorch/torchx/pull/969',
  ],
  asOf: '2026-12-02',
  types: {
    ...family('NVIDIA T4', 16, G4DN_SIZES, 'g4dn'),
    ...family('NVIDIA A10G', 24, G5_G6_SIZES, 'g5'),
    ...family('NVIDIA L4', 24, G5_G6_SIZES, 'g6'),
    ...family('NVIDIA L40S', 48, G6E_SIZES, 'g6e'),
  } as Readonly<Record<string, InstanceTypeSpec>>,
} as const;

/**
 * Regions offering each family, every size of a family alike (true of every family here in the
 * source). The source is cfn-lint's per-region list of EC2 instance types, which its maintainers
 * generate from the AWS Price List API (scripts/update_specs_from_pricing.py), at the commit
 * below. An account's own view: `aws ec2 describe-instance-type-offerings --location-type region
 * --filters Name=instance-type,Values=g6.xlarge --region <region>`.
 */
// biome-ignore format: region lists read as tables, several names a line, as the source lists them
export const REGIONAL_OFFERINGS = {
  source:
    'https://github.com/aws-cloudformation/cfn-lint/blob/249ff3dcfd2948c083d2d2ab94f6e0a7d95350ae/src/cfnlint/data/schemas/extensions/aws_ec2_instance/instancetype_enum.json',
  asOf: '2026-08-11',
  /** Every region the source lists, GPU families or not: a region outside it cannot be checked. */
  regions: [
    'af-south-1', 'ap-east-1', 'ap-east-2', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2',
    'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5', 'ap-southeast-6', 'ap-southeast-7',
    'ca-central-1', 'ca-west-1', 'cn-north-1', 'cn-northwest-1', 'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1',
    'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3', 'il-central-1', 'me-central-1', 'me-south-1', 'mx-central-1',
    'sa-east-1', 'us-east-1', 'us-east-2', 'us-gov-east-1', 'us-gov-west-1', 'us-west-1', 'us-west-2',
  ],
  families: {
    g4dn: [
      'af-south-1', 'ap-east-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-southeast-1',
      'ap-southeast-2', 'ca-central-1', 'cn-north-1', 'cn-northwest-1', 'eu-central-1', 'eu-north-1', 'eu-south-1', 'eu-west-1',
      'eu-west-2', 'eu-west-3', 'me-south-1', 'sa-east-1', 'us-east-1', 'us-east-2', 'us-gov-east-1', 'us-gov-west-1',
      'us-west-1', 'us-west-2',
    ],
    g5: [
      'ap-east-1', 'ap-northeast-1', 'ap-northeast-2', 'ap-south-1', 'ap-southeast-2', 'ap-southeast-3', 'ca-central-1',
      'cn-north-1', 'cn-northwest-1', 'eu-central-1', 'eu-north-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3',
      'il-central-1', 'me-central-1', 'sa-east-1', 'us-east-1', 'us-east-2', 'us-west-2',
    ],
    g6: [
      'ap-northeast-1', 'ap-northeast-2', 'ap-south-1', 'ap-south-2', 'ap-southeast-2', 'ap-southeast-5', 'ca-central-1',
      'eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-2', 'eu-west-2', 'eu-west-3', 'me-central-1', 'sa-east-1',
      'us-east-1', 'us-east-2', 'us-gov-east-1', 'us-gov-west-1', 'us-west-2',
    ],
    g6e: [
      'ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2', 'eu-central-1', 'eu-north-1',
      'eu-south-2', 'me-central-1', 'us-east-1', 'us-east-2', 'us-west-2',
    ],
  } as Readonly<Record<string, readonly string[]>>,
} as const;

/**
 * Memory Batch can give a job on an instance: what the ECS agent registers is the memory the
 * kernel reports (less than installed: Batch's example, an m4.large with 8 GiB, registers
 * 7,985 MiB) less the 32 MiB Batch's AMI reserves for the agent; a job asking for more than that
 * makes Batch pick a larger type, or none
 * (https://docs.aws.amazon.com/batch/latest/userguide/memory-management.html). The exact figure
 * depends on the AMI and kernel, so this takes off 5%, the buffer Batch's guide recommends
 * reserving (https://docs.aws.amazon.com/batch/latest/userguide/ecs-reserved-memory.html): it
 * errs low, so a job this allows is never too big for the type.
 */
export const USABLE_MEMORY_FRACTION = 0.95;

export function usableMemoryMiB(spec: Pick<InstanceTypeSpec, 'memoryMiB'>): number {
  return Math.floor(spec.memoryMiB * USABLE_MEMORY_FRACTION);
}

export const knownInstanceTypes = (): string[] => Object.keys(INSTANCE_TYPE_SPECS.types);

export function instanceTypeSpec(type: string): InstanceTypeSpec | undefined {
  return Object.hasOwn(INSTANCE_TYPE_SPECS.types, type) ? INSTANCE_TYPE_SPECS.types[type] : undefined;
}

export class UnknownInstanceTypeError extends Error {
  override readonly name = 'UnknownInstanceTypeError';
}

/** The shape of each instance type: GPUs, vCPUs and the memory a job may ask for. */
export function shapesOf(types: readonly string[]): JobShape[] {
  return types.map((type) => {
    const spec = instanceTypeSpec(type);
    if (!spec)
      throw new UnknownInstanceTypeError(
        `${JSON.stringify(type)} is not in the instance catalogue. Known types: ${knownInstanceTypes().join(', ')}.`,
      );
    return { label: type, gpus: spec.gpus, vcpus: spec.vcpus, memoryMiB: usableMemoryMiB(spec) };
  });
}

const dominates = (a: JobShape, b: JobShape) => a.gpus >= b.gpus && a.vcpus >= b.vcpus && a.memoryMiB >= b.memoryMiB;

/**
 * The shapes no other shape contains, identical ones merged (their labels joined). A job fits one
 * of `shapes` exactly when it fits one of these, so this is all the API needs to be told.
 */
export function placeableShapes(shapes: readonly JobShape[]): JobShape[] {
  const merged = new Map<string, JobShape>();
  for (const shape of shapes) {
    const key = `${shape.gpus}/${shape.vcpus}/${shape.memoryMiB}`;
    const existing = merged.get(key);
    merged.set(key, existing ? { ...existing, label: `${existing.label}, ${shape.label}` } : shape);
  }
  const distinct = [...merged.values()];
  return distinct.filter((shape) => !distinct.some((other) => other !== shape && dominates(other, shape)));
}

/** The most of each resource any one of `shapes` has (not necessarily all on the same one). */
export function largestShape(shapes: readonly JobShape[]): Omit<JobShape, 'label'> {
  return {
    gpus: Math.max(0, ...shapes.map((shape) => shape.gpus)),
    vcpus: Math.max(0, ...shapes.map((shape) => shape.vcpus)),
    memoryMiB: Math.max(0, ...shapes.map((shape) => shape.memoryMiB)),
  };
}

export type ShapeField = 'gpus' | 'vcpus' | 'memoryMiB';

export type FitResult =
  | { readonly fits: true; readonly on: JobShape }
  | {
      readonly fits: false;
      /** The first resource, in the order gpus, vcpus, memoryMiB, that no shape still in question has enough of. */
      readonly field: ShapeField;
      readonly requested: number;
      /** The most of `field` available alongside what the job asks of the fields before it. */
      readonly largest: number;
      /** Where that most is, or every shape when the first field already fails. */
      readonly on: readonly JobShape[];
    };

const FIELDS: readonly ShapeField[] = ['gpus', 'vcpus', 'memoryMiB'];

/**
 * Whether one of `shapes` holds the job. The fields are taken in order so a failure names the
 * one to change: with gpus 4, the vCPUs that count are those of the shapes that have 4 GPUs.
 */
export function fits(job: Readonly<Record<ShapeField, number>>, shapes: readonly JobShape[]): FitResult {
  let candidates = [...shapes];
  for (const field of FIELDS) {
    const enough = candidates.filter((shape) => shape[field] >= job[field]);
    if (enough.length === 0) {
      const largest = Math.max(0, ...candidates.map((shape) => shape[field]));
      return { fits: false, field, requested: job[field], largest, on: candidates.filter((shape) => shape[field] === largest) };
    }
    candidates = enough;
  }
  return { fits: true, on: candidates[0]! };
}

const UNITS: Readonly<Record<ShapeField, readonly [one: string, many: string]>> = {
  gpus: ['GPU', 'GPUs'],
  vcpus: ['vCPU', 'vCPUs'],
  memoryMiB: ['MiB of memory', 'MiB of memory'],
};
const amount = (field: ShapeField, count: number) => `${count} ${UNITS[field][count === 1 ? 0 : 1]}`;

/** A sentence for a job that does not fit: what is available alongside what else it asks, where, and what it asked. */
export function describeMisfit(result: Extract<FitResult, { fits: false }>, job: Readonly<Record<ShapeField, number>>): string {
  const where = result.on.map((shape) => shape.label).join('; ');
  const alongside = FIELDS.slice(0, FIELDS.indexOf(result.field))
    .map((field) => amount(field, job[field]))
    .join(' and ');
  return `${alongside ? `with ${alongside}, ` : ''}the most available is ${amount(result.field, result.largest)}${where ? ` (${where})` : ''}; received ${result.requested}`;
}

/** The job shapes as the API's environment variable carries them. */
export function formatJobShapes(shapes: readonly JobShape[]): string {
  return JSON.stringify(shapes.map(({ label, gpus, vcpus, memoryMiB }) => ({ label, gpus, vcpus, memoryMiB })));
}

export class InvalidJobShapesError extends Error {
  override readonly name = 'InvalidJobShapesError';
}

/** Reads what formatJobShapes wrote; `source` names where it came from in the error. */
export function parseJobShapes(text: string, source: string): JobShape[] {
  const fail = (): never => {
    throw new InvalidJobShapesError(
      `${source} must be a non-empty JSON list of {label, gpus, vcpus, memoryMiB} with positive integers. Received ${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)}.`,
    );
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return fail();
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return fail();
  return parsed.map((entry: unknown) => {
    const shape = entry as Partial<Record<keyof JobShape, unknown>> | null;
    const positive = (value: unknown) => Number.isInteger(value) && (value as number) > 0;
    if (
      typeof shape !== 'object' ||
      shape === null ||
      typeof shape.label !== 'string' ||
      !FIELDS.every((field) => positive(shape[field]))
    ) {
      return fail();
    }
    return { label: shape.label, gpus: shape.gpus as number, vcpus: shape.vcpus as number, memoryMiB: shape.memoryMiB as number };
  });
}

/**
 * The configured types the region does not offer, in the order given; undefined when the source
 * has no data for the region at all (a region newer than the data), so nothing can be said.
 */
export function instanceTypesNotOffered(types: readonly string[], region: string): string[] | undefined {
  if (!(REGIONAL_OFFERINGS.regions as readonly string[]).includes(region)) return undefined;
  return types.filter((type) => {
    const family = type.split('.')[0] ?? type;
    const regions = Object.hasOwn(REGIONAL_OFFERINGS.families, family) ? REGIONAL_OFFERINGS.families[family] : undefined;
    return !regions?.includes(region);
  });
}

/** Regions where every one of `types` is offered, in the source's order. */
export function regionsOffering(types: readonly string[]): string[] {
  return REGIONAL_OFFERINGS.regions.filter((region) => instanceTypesNotOffered(types, region)?.length === 0);
}
