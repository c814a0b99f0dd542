import { createHmac } from 'node:crypto';

/** Below this a seed is too easy to guess: every database password is derived from it. */
export const MIN_SEED_LENGTH = 32;

/**
 * The password of one Secret key, derived from the stack's secret seed with HMAC-SHA256.
 *
 * Why derived and not random: a random value drawn on every `pulumi up` would change the
 * Secret on each update, while PostgreSQL keeps the password it was initialised with on
 * its volume, so the service could no longer log in. Derivation is stable across updates,
 * across a lost or recreated stack state, and across `pulumi destroy` + `up` (which keeps
 * the PersistentVolumeClaims of the StatefulSets), and each database still gets its own
 * value. The seed lives only in the stack config, encrypted (`pulumi config set --secret`).
 * Hex output: alphanumeric, so the value is safe inside the DATABASE_URL that Kubernetes
 * builds from it.
 */
export function derivePassword(seed: string, secret: { readonly namespace: string; readonly name: string }, key: string): string {
  if (seed.length < MIN_SEED_LENGTH) {
    throw new Error(
      `'meshkit:dbPasswordSeed' has ${seed.length} characters, at least ${MIN_SEED_LENGTH} are needed: ` +
        'pulumi config set --secret meshkit:dbPasswordSeed "$(openssl rand -hex 32)"',
    );
  }
  return createHmac('sha256', seed).update(`meshkit/${secret.namespace}/${secret.name}/${key}`).digest('hex');
}
