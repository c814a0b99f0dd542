import { randomInt } from 'node:crypto';
import type { ExternalSecretRef } from '../constructs/postgres-database.js';
import type { ClusterApi, KubeObject } from './cluster-api.js';
import type { Probe } from './plan.js';

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random alphanumeric password (crypto.randomInt draws without modulo bias): safe in URLs and env values. */
export function randomPassword(length = 32): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

const label = (ref: ExternalSecretRef) => `${ref.namespace}/${ref.name}`;

function missingKeys(secret: KubeObject, ref: ExternalSecretRef): string[] {
  const data = (secret.data ?? {}) as Record<string, string>;
  return ref.keys.filter((k) => !data[k]);
}

export async function probeSecrets(api: ClusterApi, refs: readonly ExternalSecretRef[]): Promise<Probe> {
  const missing: string[] = [];
  for (const ref of refs) {
    if (!(await api.get('v1', 'Secret', ref.name, ref.namespace))) missing.push(label(ref));
  }
  return missing.length === 0
    ? { done: true, detail: `${refs.length} Secrets present` }
    : { done: false, detail: `${missing.length} of ${refs.length} Secrets missing: ${missing.join(', ')}` };
}

/**
 * Creates each Secret the manifests reference but never contain, with a random value per
 * key, only when it is missing. An existing Secret is never rewritten: its database was
 * initialised with that password. Create (not apply) so two concurrent runs cannot
 * overwrite each other's value: the loser gets 409 and keeps the winner's.
 */
export async function ensureSecrets(api: ClusterApi, refs: readonly ExternalSecretRef[]): Promise<{ created: string[]; kept: string[] }> {
  const created: string[] = [];
  const kept: string[] = [];
  for (const ref of refs) {
    const existing = await api.get('v1', 'Secret', ref.name, ref.namespace);
    if (!existing) {
      const secret: KubeObject = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: ref.name, namespace: ref.namespace, labels: { 'app.kubernetes.io/managed-by': 'meshkit-cli' } },
        type: 'Opaque',
        stringData: Object.fromEntries(ref.keys.map((k) => [k, randomPassword()])),
      };
      if (await api.create(secret)) {
        created.push(label(ref));
        continue;
      }
    }
    const current = existing ?? (await api.get('v1', 'Secret', ref.name, ref.namespace));
    const lacking = current ? missingKeys(current, ref) : ref.keys;
    if (lacking.length > 0) {
      throw new Error(
        `Secret ${label(ref)} exists but lacks key(s) ${lacking.join(', ')}; it was not created by meshkit. ` +
          `Delete it (kubectl -n ${ref.namespace} delete secret ${ref.name}) and re-run; the CLI never overwrites a Secret.`,
      );
    }
    kept.push(label(ref));
  }
  return { created, kept };
}
