// Application-level credentials (README "How resolution works", step 3) read from an Application's
// annotations, as Argo CD Image Updater reads them:
// the image-list entry matching the image → its alias's pull-secret → the application-wide pull-secret.
// Pure functions; every step is reported so that the explain endpoint can show it.

import { own } from '../own.js';

export const ANNOTATION_PREFIX = 'argocd-image-updater.argoproj.io';
export const IMAGE_LIST_ANNOTATION = `${ANNOTATION_PREFIX}/image-list`;
export const APPLICATION_PULL_SECRET_ANNOTATION = `${ANNOTATION_PREFIX}/pull-secret`;

export interface ImageListEntry {
  /** as written (trimmed) */
  raw: string
  alias?: string
  /** the image name as written, without constraint or digest */
  image: string
  /** version constraint (or tag) after the name */
  constraint?: string
}

export interface AnnotationStep {
  step: string
  taken: boolean
  reason: string
}

export interface AnnotationResult {
  /** the credential reference found, as written in the annotation (trimmed) */
  spec?: string
  /** the level `spec` comes from; without `spec`, the last level looked at */
  level: 'image' | 'application'
  steps: AnnotationStep[]
}

/** Maps an image reference to its normalized name without tag or digest (`nginx` → `docker.io/library/nginx`); may throw. */
export type ImageNameNormalizer = (ref: string) => string;

/** The annotation naming an alias's pull secret; `/` in an alias becomes `_` (a Kubernetes limitation, as upstream). */
export function aliasPullSecretAnnotation (alias: string): string {
  return `${ANNOTATION_PREFIX}/${alias.replaceAll('/', '_')}.pull-secret`;
}

// As upstream (NewFromIdentifier), the text before the first `=` is the alias, whatever it
// holds (`ghcr.io:4567/x/orig=gcr.io:1234/x/app`), and an empty alias is no alias. One
// exception: an `=` right after a constraint operator (`nginx:>=1.2`) belongs to the constraint.
const CONSTRAINT_OPERATOR = /[<>!=~]$/;

/**
 * Split `image[:constraint]` (or `image@digest`) into name and constraint. The constraint
 * is after the first `:` that follows the last `/`, so a host's port is never taken for one.
 */
function splitImage (text: string): { image: string, constraint?: string } {
  const at = text.indexOf('@');
  const noDigest = at === -1 ? text : text.slice(0, at);
  const colon = noDigest.indexOf(':', noDigest.lastIndexOf('/') + 1);
  if (colon === -1) return { image: noDigest.trim() };
  const constraint = noDigest.slice(colon + 1).trim();
  return constraint === ''
    ? { image: noDigest.slice(0, colon).trim() }
    : { image: noDigest.slice(0, colon).trim(), constraint };
}

/** Parse the image-list annotation: `[alias=]image[:constraint]`, comma-separated, whitespace tolerant. */
export function parseImageList (value: string): ImageListEntry[] {
  const entries: ImageListEntry[] = [];
  for (const part of value.split(',')) {
    const raw = part.trim();
    if (raw === '') continue;
    let alias: string | undefined;
    let rest = raw;
    const eq = raw.indexOf('=');
    if (eq >= 0 && !CONSTRAINT_OPERATOR.test(raw.slice(0, eq))) {
      const candidate = raw.slice(0, eq).trim();
      if (candidate !== '') alias = candidate;
      rest = raw.slice(eq + 1);
    }
    const { image, constraint } = splitImage(rest.trim());
    if (image === '') continue;
    const entry: ImageListEntry = { raw, image };
    if (alias !== undefined) entry.alias = alias;
    if (constraint !== undefined) entry.constraint = constraint;
    entries.push(entry);
  }
  return entries;
}

function annotationValue (annotations: Record<string, string>, key: string): string | undefined {
  const value = own(annotations, key);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function safeNormalize (normalize: ImageNameNormalizer, ref: string): string | undefined {
  try {
    return normalize(ref);
  } catch {
    return undefined;
  }
}

/**
 * For one image: the credential reference an Application's annotations name for it,
 * or none (the resolver falls through to the registry level). `normalize` must map the requested
 * image and each image-list entry to comparable names without tag or digest.
 */
export function credentialFromAnnotations (
  annotations: Record<string, string>,
  image: string,
  normalize: ImageNameNormalizer
): AnnotationResult {
  const steps: AnnotationStep[] = [];
  const wanted = safeNormalize(normalize, image) ?? image;
  const list = annotationValue(annotations, IMAGE_LIST_ANNOTATION);

  let match: ImageListEntry | undefined;
  if (list === undefined) {
    steps.push({ step: 'image-list', taken: false, reason: `annotation ${IMAGE_LIST_ANNOTATION} is not set` });
  } else {
    const entries = parseImageList(list);
    const invalid: string[] = [];
    for (const entry of entries) {
      const name = safeNormalize(normalize, entry.image);
      if (name === undefined) {
        invalid.push(entry.raw);
        continue;
      }
      if (name === wanted) {
        match = entry;
        break;
      }
    }
    if (match !== undefined) {
      steps.push({ step: 'image-list', taken: true, reason: `entry "${match.raw}" matches ${wanted}` });
    } else {
      const ignored = invalid.length > 0 ? `; entries that are not image references were ignored: ${invalid.map((e) => `"${e}"`).join(', ')}` : '';
      steps.push({
        step: 'image-list',
        taken: false,
        reason: `no entry of ${IMAGE_LIST_ANNOTATION} (${entries.length} entries) matches ${wanted}${ignored}`
      });
    }
  }

  if (match === undefined) {
    steps.push({ step: 'image pull-secret', taken: false, reason: 'skipped: the image is not in the image-list' });
    steps.push({
      step: 'application pull-secret',
      taken: false,
      reason: 'skipped: the image is not in the image-list; falls through to the registry level'
    });
    return { level: 'application', steps };
  }

  if (match.alias === undefined) {
    steps.push({ step: 'image pull-secret', taken: false, reason: `entry "${match.raw}" has no alias` });
  } else {
    const key = aliasPullSecretAnnotation(match.alias);
    const spec = annotationValue(annotations, key);
    if (spec !== undefined) {
      steps.push({ step: 'image pull-secret', taken: true, reason: `annotation ${key} names ${spec}` });
      steps.push({ step: 'application pull-secret', taken: false, reason: 'skipped: the image-level pull secret wins' });
      return { spec, level: 'image', steps };
    }
    steps.push({ step: 'image pull-secret', taken: false, reason: `annotation ${key} is not set` });
  }

  const spec = annotationValue(annotations, APPLICATION_PULL_SECRET_ANNOTATION);
  if (spec !== undefined) {
    steps.push({ step: 'application pull-secret', taken: true, reason: `annotation ${APPLICATION_PULL_SECRET_ANNOTATION} names ${spec}` });
    return { spec, level: 'application', steps };
  }
  steps.push({
    step: 'application pull-secret',
    taken: false,
    reason: `annotation ${APPLICATION_PULL_SECRET_ANNOTATION} is not set; falls through to the registry level`
  });
  return { level: 'application', steps };
}
