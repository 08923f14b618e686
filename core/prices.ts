/**
 * On-Demand list prices for the GPU instance types the default compute
 * environments use.
 *
 * Region us-east-1 (US East, N. Virginia), Linux, shared tenancy, USD per hour.
 * Source: the Amazon EC2 On-Demand pricing page,
 * https://aws.amazon.com/ec2/pricing/on-demand/ (the same figures the AWS Price
 * List API publishes for these SKUs); compiled on 2026-11-22. List prices change
 * rarely; refresh this table from the Price List API when they do, and add a
 * type here when the compute environments gain one (an unknown type has an
 * unknown cost, never a zero one).
 */
export const ON_DEMAND_PRICES = {
  region: 'us-east-1',
  operatingSystem: 'Linux',
  currency: 'USD',
  asOf: '2026-11-22',
  source: 'https://aws.amazon.com/ec2/pricing/on-demand/',
  usdPerHour: {
    'g4dn.xlarge': 0.526,
    'g4dn.2xlarge': 0.752,
    'g4dn.4xlarge': 1.204,
    'g4dn.8xlarge': 2.176,
    'g4dn.12xlarge': 3.912,
    'g5.xlarge': 1.006,
    'g5.2xlarge': 1.212,
    'g5.4xlarge': 1.624,
    'g5.8xlarge': 2.448,
    'g5.12xlarge': 5.672,
    'g5.48xlarge': 16.288,
    'g6.xlarge': 0.8048,
    'g6.2xlarge': 0.9776,
    'g6.4xlarge': 1.3232,
    'g6.8xlarge': 2.0144,
    'g6.12xlarge': 4.6016,
  } as Readonly<Record<string, number>>,
} as const;

/**
 * What a Spot hour is assumed to cost, as a fraction of the On-Demand list price,
 * when the actual Spot price of an attempt is not known. Spot prices for these
 * G families in us-east-1 have mostly sat between 30% and 50% of On-Demand; 0.4 is
 * the middle of that range. Costs computed with it are marked `estimated`.
 */
export const SPOT_PRICE_ESTIMATE_FRACTION = 0.4;

export function onDemandPriceUsdPerHour(instanceType: string): number | undefined {
  return Object.hasOwn(ON_DEMAND_PRICES.usdPerHour, instanceType) ? ON_DEMAND_PRICES.usdPerHour[instanceType] : undefined;
}
