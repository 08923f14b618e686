/**
 * Container image references (`registry/repository[:tag][@sha256:digest]`) and the deployment's
 * registry allow list. The job spec checks an image with these at submit, the workflow checks it
 * again before the job runs, and the ECR pull grant reads the same allow-list entries, so all
 * three agree on what an image names and whether it may run.
 */

/** The longest reference accepted; the job spec's `image` limit is this one. */
export const IMAGE_REFERENCE_MAX_LENGTH = 512;

export interface ImageReference {
  /** Registry host (and port), lower case; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path within the registry (`library/ubuntu` for the short Docker Hub form). */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

// The grammar of github.com/distribution/reference, restricted to sha256 digests.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?$`);
const REPOSITORY = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const DOCKER_HUB = 'docker.io';

/** Parses `registry/repository[:tag][@sha256:digest]`; undefined when it is not a valid reference. */
export function parseImageReference(reference: string): ImageReference | undefined {
  if (reference.length === 0 || reference.length > IMAGE_REFERENCE_MAX_LENGTH) return undefined;
  let remainder = reference;
  let digest: string | undefined;
  const at = remainder.indexOf('@');
  if (at !== -1) {
    digest = remainder.slice(at + 1);
    remainder = remainder.slice(0, at);
    if (!DIGEST.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const lastColon = remainder.lastIndexOf(':');
  if (lastColon > remainder.lastIndexOf('/')) {
    tag = remainder.slice(lastColon + 1);
    remainder = remainder.slice(0, lastColon);
    if (!TAG.test(tag)) return undefined;
  }
  // As Docker decides: the first component is a registry when it looks like a host
  // (has a dot or a port, is localhost, or has upper case); otherwise it is Docker Hub.
  const slash = remainder.indexOf('/');
  const first = slash === -1 ? '' : remainder.slice(0, slash);
  const firstIsRegistry =
    slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  let registry = DOCKER_HUB;
  let repository = remainder;
  if (firstIsRegistry) {
    if (!DOMAIN.test(first)) return undefined;
    registry = first.toLowerCase();
    repository = remainder.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPOSITORY.test(repository)) return undefined;
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/**
 * One entry of a registry allow list (`allowedRegistries`): a registry host (`ghcr.io`,
 * `localhost:5000`) or a `*.` host suffix (`*.dkr.ecr.us-east-1.amazonaws.com`, every account's
 * private ECR in that region), optionally followed by a repository path (`ghcr.io/acme`,
 * `123456789012.dkr.ecr.us-east-1.amazonaws.com/team`). `index.docker.io` and `docker.io` are the
 * same registry.
 */
export interface RegistryEntry {
  /** Lower case; `docker.io` for Docker Hub; a leading `*.` for a suffix. */
  readonly host: string;
  /** The repository path the entry is limited to, lower case, no leading or trailing `/`. */
  readonly path?: string;
}

export function parseRegistryEntry(entry: string): RegistryEntry {
  const normalized = entry.trim().toLowerCase().replace(/\/+$/, '');
  const slash = normalized.indexOf('/');
  const host = slash === -1 ? normalized : normalized.slice(0, slash);
  const path = slash === -1 ? '' : normalized.slice(slash + 1);
  return { host: host === 'index.docker.io' ? DOCKER_HUB : host, ...(path === '' ? {} : { path }) };
}

/**
 * Hosts compare whole: the deployment's configuration (lib/config.ts) accepts no wildcard hosts,
 * because the ECR pull grant could not honour one, so neither does the match.
 */
function hostMatches(entry: RegistryEntry, registry: string): boolean {
  return registry.toLowerCase() === entry.host;
}

/**
 * A bare host allows every image of that registry; an entry with a path allows the repository
 * of that name and every repository under it, by whole path segments: `ghcr.io/acme` allows
 * `ghcr.io/acme/x` and `ghcr.io/acme/x/y`, never `ghcr.io/acmecorp/x`. Short Docker Hub names
 * are compared in full (`ubuntu` is `docker.io/library/ubuntu`). The ECR pull grant
 * (lib/gpu-compute.ts ecrRepositoryPatterns) reads the entries with parseRegistryEntry to give
 * the same repositories.
 */
export function isImageAllowed(image: ImageReference, allowedRegistries: readonly string[]): boolean {
  // An empty list is the deployment's "no restriction" (the default, documented with its consequence).
  if (allowedRegistries.length === 0) return true;
  return allowedRegistries.some((raw) => {
    const entry = parseRegistryEntry(raw);
    if (!hostMatches(entry, image.registry)) return false;
    return entry.path === undefined || image.repository === entry.path || image.repository.startsWith(`${entry.path}/`);
  });
}

/** Why an allow list refuses an image, naming the registry or repository; undefined when it allows it. */
export function describeImageRefusal(image: ImageReference, allowedRegistries: readonly string[]): string | undefined {
  if (isImageAllowed(image, allowedRegistries)) return undefined;
  const allowed = allowedRegistries.join(', ');
  const hostListed = allowedRegistries.some((raw) => hostMatches(parseRegistryEntry(raw), image.registry));
  return hostListed
    ? `repository ${JSON.stringify(image.repository)} of registry ${JSON.stringify(image.registry)} is not under an allowed path; allowed registries: ${allowed}`
    : `registry ${JSON.stringify(image.registry)} is not allowed; allowed registries: ${allowed}`;
}
