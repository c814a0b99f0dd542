import type { ClusterApi, KubeObject } from '../../../cli/cluster-api.js';

const key = (apiVersion: string, kind: string, name: string, namespace?: string) => `${apiVersion}|${kind}|${namespace ?? ''}|${name}`;
const keyOf = (o: KubeObject) => key(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);

/** Status a healthy controller would report for a freshly applied object. */
export function readyStatus(o: KubeObject): Record<string, unknown> | undefined {
  const replicas = (o.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  const generation = (o.metadata.generation as number | undefined) ?? 1;
  if (o.kind === 'Deployment') {
    return {
      observedGeneration: generation,
      replicas,
      updatedReplicas: replicas,
      availableReplicas: replicas,
      readyReplicas: replicas,
      conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }],
    };
  }
  if (o.kind === 'StatefulSet')
    return { observedGeneration: generation, replicas, readyReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas };
  if (o.kind === 'CustomResourceDefinition') return { conditions: [{ type: 'Established', status: 'True' }] };
  if (o.apiVersion.startsWith('kafka.strimzi.io/') && o.kind !== 'KafkaNodePool')
    return { observedGeneration: generation, conditions: [{ type: 'Ready', status: 'True' }] };
  return undefined;
}

/** Status of a Deployment whose pods never become ready (what the deployment controller reports). */
export function unreadyStatus(o: KubeObject): Record<string, unknown> | undefined {
  if (o.kind !== 'Deployment') return undefined;
  const replicas = (o.spec as { replicas?: number } | undefined)?.replicas ?? 1;
  return {
    observedGeneration: (o.metadata.generation as number | undefined) ?? 1,
    replicas,
    updatedReplicas: replicas,
    unavailableReplicas: replicas,
    conditions: [
      { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' },
      { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' },
    ],
  };
}

function deepMerge(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = { ...(typeof target === 'object' && target !== null ? (target as Record<string, unknown>) : {}) };
  for (const [k, v] of Object.entries(patch)) out[k] = v === null ? undefined : deepMerge(out[k], v);
  return out;
}

/**
 * An in-memory stand-in for the API server with just enough semantics for the CLI:
 * apply stores the object (keeping its status, bumping resourceVersion and generation
 * only when the content changed), create refuses existing names, list filters by label
 * selector. `reconcile()` plays the controllers: every object applied since the last
 * call gets a ready status unless `stuck` says otherwise. Tests call it from the fake
 * clock's sleep, so a wait sees objects become ready one poll after they were applied.
 */
export class FakeCluster implements ClusterApi {
  readonly objects = new Map<string, KubeObject>();
  /** `Kind namespace/name` of every apply, in order. */
  readonly applied: string[] = [];
  readonly createdSecrets: KubeObject[] = [];
  readonly patches: { name: string; patch: unknown }[] = [];
  /** Objects the simulated controllers never make ready. */
  stuck: (o: KubeObject) => boolean = () => false;
  /** How many reconciles an applied object needs to become ready: Deployments wait a round for their databases. */
  roundsToReady: (o: KubeObject) => number = (o) => (o.kind === 'Deployment' ? 2 : 1);
  private pending = new Map<string, number>();
  private version = 1;
  closed = false;

  /** Seeds an object as it would exist on the server (status included). */
  put(object: KubeObject): this {
    this.objects.set(keyOf(object), { ...object, metadata: { resourceVersion: String(this.version++), generation: 1, ...object.metadata } });
    return this;
  }

  /** Seeds an object with the status a healthy controller gives it. */
  putReady(object: KubeObject): this {
    const status = readyStatus({ ...object, metadata: { generation: 1, ...object.metadata } });
    return this.put({ ...object, ...(status && { status }) });
  }

  reconcile(): void {
    for (const [k, rounds] of this.pending) {
      const o = this.objects.get(k);
      if (!o) continue;
      if (this.stuck(o)) {
        const status = unreadyStatus(o);
        if (status) this.objects.set(k, { ...o, status });
        continue;
      }
      if (rounds > 1) {
        this.pending.set(k, rounds - 1);
        continue;
      }
      const status = readyStatus(o);
      if (status) this.objects.set(k, { ...o, status });
      this.pending.delete(k);
    }
  }

  async get(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined> {
    const o = this.objects.get(key(apiVersion, kind, name, namespace));
    return o && structuredClone(o);
  }

  async list(apiVersion: string, kind: string, options: { namespace?: string; labelSelector?: string } = {}): Promise<KubeObject[]> {
    const wanted = (options.labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((term) => term.split('=') as [string, string]);
    return [...this.objects.values()]
      .filter((o) => o.apiVersion === apiVersion && o.kind === kind)
      .filter((o) => options.namespace === undefined || o.metadata.namespace === options.namespace)
      .filter((o) => wanted.every(([k, v]) => (o.metadata.labels as Record<string, string> | undefined)?.[k] === v))
      .map((o) => structuredClone(o));
  }

  async apply(objects: readonly KubeObject[]): Promise<KubeObject[]> {
    return objects.map((object) => {
      const k = keyOf(object);
      const existing = this.objects.get(k);
      this.applied.push(`${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`);
      const strip = (o: KubeObject) =>
        JSON.stringify({ ...o, status: undefined, metadata: { ...o.metadata, resourceVersion: undefined, generation: undefined } });
      if (existing && strip(existing) === strip({ ...object, metadata: { ...existing.metadata, ...object.metadata } })) return structuredClone(existing);
      const generation = ((existing?.metadata.generation as number | undefined) ?? 0) + 1;
      const stored: KubeObject = {
        ...object,
        metadata: { ...object.metadata, resourceVersion: String(this.version++), generation },
        ...(existing?.status !== undefined && { status: existing.status }),
      };
      this.objects.set(k, stored);
      this.pending.set(k, this.roundsToReady(stored));
      return structuredClone(stored);
    });
  }

  async create(object: KubeObject): Promise<boolean> {
    if (this.objects.has(keyOf(object))) return false;
    const stringData = (object.stringData ?? {}) as Record<string, string>;
    const stored: KubeObject = {
      ...object,
      stringData: undefined,
      data: Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      metadata: { ...object.metadata, resourceVersion: String(this.version++) },
    };
    this.objects.set(keyOf(object), stored);
    this.createdSecrets.push(stored);
    return true;
  }

  async mergePatch(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown): Promise<void> {
    const k = key(apiVersion, kind, name, namespace);
    const o = this.objects.get(k);
    if (!o) throw new Error(`not found: ${k}`);
    this.objects.set(k, { ...(deepMerge(o, patch) as KubeObject), metadata: { ...o.metadata, resourceVersion: String(this.version++) } });
    this.patches.push({ name: `${kind} ${namespace ?? ''}/${name}`, patch });
  }

  async serves(apiVersion: string, kind: string): Promise<boolean> {
    if (!apiVersion.includes('.')) return true; // built-in groups
    return [...this.objects.values()].some((o) => {
      if (o.kind !== 'CustomResourceDefinition') return false;
      const spec = o.spec as { group: string; names: { kind: string }; versions: { name: string }[] };
      return spec.names.kind === kind && spec.versions.some((v) => `${spec.group}/${v.name}` === apiVersion);
    });
  }

  close(): void {
    this.closed = true;
  }
}
