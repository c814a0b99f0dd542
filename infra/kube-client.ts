import { Agent, request } from 'node:https';
import type { KubeObject } from '../manifests/kube-object.js';

/** How to reach a Kubernetes API server; handed from the global setup to test files via `inject('kube')`. */
export interface KubeConnection {
  /** Base URL, e.g. https://127.0.0.1:40123 */
  url: string;
  /** Bearer token accepted by the server; empty when a client certificate authenticates instead. */
  token: string;
  /** PEM bundle that verifies the server's certificate. */
  caCert: string;
  /** PEM client certificate and key, as kind's kubeconfig carries them. */
  clientCert?: string;
  clientKey?: string;
}

// The client speaks the one manifest model (manifests/kube-object.ts).
export type { KubeObject };

/** Where a kind lives on the server, from discovery. */
export interface ResourceMapping {
  /** Path prefix without namespace: `/api/v1` or `/apis/<group>/<version>`. */
  readonly groupVersionPath: string;
  /** Plural resource name, e.g. `virtualservices`. */
  readonly resource: string;
  readonly namespaced: boolean;
}

/** The server's `Status` body of a failed request. */
interface Status {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/** A request the API server answered with an error status; `message` is the server's own text. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** Raised when a kind is not served (for example its CRD is not installed). */
export class UnknownKindError extends Error {
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(`the server does not serve kind ${kind} in ${apiVersion} (is its CRD installed?)`);
    this.name = 'UnknownKindError';
  }
}

export interface ApplyOptions {
  /** Server-side dry run: full validation and admission, nothing persisted. */
  readonly dryRun?: boolean;
}

export interface DryRunResult {
  /** Objects the server would accept, as `Kind namespace/name` (or `Kind name` when cluster-scoped). */
  accepted: string[];
  /** Objects the server refused, with the server's own message. */
  rejections: { object: string; reason: string }[];
}

export interface WaitOptions {
  /** @default 60_000 */
  readonly timeoutMs?: number;
  /** @default 250 */
  readonly intervalMs?: number;
}

// Aggregated discovery (apidiscovery.k8s.io/v2, GA since 1.30): two requests map every kind.
const discoveryAccept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;q=0.9';

interface DiscoveryList {
  kind?: string;
  items?: {
    metadata?: { name?: string };
    versions?: {
      version: string;
      resources?: { resource: string; scope: string; responseKind?: { kind?: string } }[];
    }[];
  }[];
}

/**
 * True when the server refused the object itself, false for a broken server.
 * Server-side apply answers a patch that does not fit the schema (wrong type, undeclared
 * field) with HTTP 500 "failed to create typed patch object" (kubernetes/kubernetes#122480,
 * #139253), so that one 500 counts as a rejection; any other 5xx is an infrastructure failure.
 */
function isRejection(error: unknown): error is KubeApiError | UnknownKindError {
  if (error instanceof UnknownKindError) return true;
  if (!(error instanceof KubeApiError)) return false;
  return error.status < 500 || error.message.startsWith('failed to create typed patch object');
}

/** `VirtualService shop/order` or `Namespace shop`: how objects are named in results and errors. */
export function describeObject(object: KubeObject, namespaced = object.metadata.namespace !== undefined): string {
  const name = namespaced ? `${object.metadata.namespace ?? 'default'}/${object.metadata.name}` : object.metadata.name;
  return `${object.kind} ${name}`;
}

/**
 * A deliberately small Kubernetes client over node:https: discovery, server-side apply,
 * get/list/delete and polling. Enough for tests and the bring-up CLI, without kubectl
 * or a client library.
 */
export class KubeClient {
  private readonly agent: Agent;
  private mappings: Map<string, ResourceMapping> | undefined;

  constructor(readonly connection: KubeConnection) {
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 8,
      ca: connection.caCert,
      ...(connection.clientCert !== undefined && { cert: connection.clientCert }),
      ...(connection.clientKey !== undefined && { key: connection.clientKey }),
    });
  }

  /** Releases pooled connections so a CLI can exit. */
  close(): void {
    this.agent.destroy();
  }

  /** Raw request; resolves with the parsed JSON body, rejects with KubeApiError on a 4xx/5xx. */
  async request<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; accept?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    const url = new URL(path, this.connection.url);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    if (this.connection.token) headers.authorization = `Bearer ${this.connection.token}`;
    if (payload !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.agent, timeout: options.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
    let body: unknown = text;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (e.g. /readyz); hand back the text
    }
    if (status >= 400) {
      const s = (typeof body === 'object' && body !== null ? body : {}) as Status;
      throw new KubeApiError(status, s.reason, s.message ?? `${method} ${url.pathname}: HTTP ${status} ${text.slice(0, 500)}`);
    }
    return body as T;
  }

  /** Re-reads discovery; call after installing CRDs (lookups also refresh once on a miss). */
  async refreshDiscovery(): Promise<void> {
    const mappings = new Map<string, ResourceMapping>();
    for (const root of ['/api', '/apis']) {
      const list = await this.request<DiscoveryList>('GET', root, { accept: discoveryAccept });
      if (list.kind !== 'APIGroupDiscoveryList') {
        throw new Error(`${root} did not answer with aggregated discovery (got ${String(list.kind)}); Kubernetes 1.30+ is required`);
      }
      for (const group of list.items ?? []) {
        const groupName = group.metadata?.name ?? '';
        for (const version of group.versions ?? []) {
          const apiVersion = groupName === '' ? version.version : `${groupName}/${version.version}`;
          const groupVersionPath = groupName === '' ? `/api/${version.version}` : `/apis/${apiVersion}`;
          for (const r of version.resources ?? []) {
            const kind = r.responseKind?.kind;
            if (!kind) continue;
            mappings.set(`${apiVersion}|${kind}`, { groupVersionPath, resource: r.resource, namespaced: r.scope === 'Namespaced' });
          }
        }
      }
    }
    this.mappings = mappings;
  }

  /** Maps apiVersion/kind to its resource; throws UnknownKindError when the server does not serve it. */
  async mapping(apiVersion: string, kind: string): Promise<ResourceMapping> {
    const key = `${apiVersion}|${kind}`;
    if (!this.mappings?.has(key)) await this.refreshDiscovery();
    const found = this.mappings?.get(key);
    if (!found) throw new UnknownKindError(apiVersion, kind);
    return found;
  }

  /** True when the server serves this kind right now (refreshing discovery on a miss). */
  async serves(apiVersion: string, kind: string): Promise<boolean> {
    try {
      await this.mapping(apiVersion, kind);
      return true;
    } catch (error) {
      if (error instanceof UnknownKindError) return false;
      throw error;
    }
  }

  private async path(apiVersion: string, kind: string, namespace: string | undefined, name?: string): Promise<string> {
    const m = await this.mapping(apiVersion, kind);
    const ns = m.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${m.groupVersionPath}${ns}/${m.resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  /** Namespace an object lands in: its own, `default` when a namespaced object has none, undefined when cluster-scoped. */
  async namespaceOf(object: KubeObject): Promise<string | undefined> {
    const m = await this.mapping(object.apiVersion, object.kind);
    return m.namespaced ? (object.metadata.namespace ?? 'default') : undefined;
  }

  /**
   * Server-side apply (field manager `meshkit`, conflicts forced, unknown fields rejected
   * as `kubectl apply --server-side` does), one object at a time, in order.
   * Returns the objects as the server stored (or would store) them.
   */
  async applyServerSide(objects: readonly KubeObject[], options: ApplyOptions = {}): Promise<KubeObject[]> {
    const applied: KubeObject[] = [];
    for (const object of objects) {
      const namespace = await this.namespaceOf(object);
      const body = namespace === undefined ? object : { ...object, metadata: { ...object.metadata, namespace } };
      const query = new URLSearchParams({ fieldManager: 'meshkit', force: 'true', fieldValidation: 'Strict' });
      if (options.dryRun) query.set('dryRun', 'All');
      const path = await this.path(object.apiVersion, object.kind, namespace, object.metadata.name);
      applied.push(await this.request<KubeObject>('PATCH', `${path}?${query}`, { body, contentType: 'application/apply-patch+yaml' }));
    }
    return applied;
  }

  /**
   * Validates manifests the way the API server would admit them: creates (for real) every
   * Namespace the objects declare or use, then dry-run applies each object.
   * A kind the server does not serve is a rejection too.
   */
  async dryRunApply(objects: readonly KubeObject[]): Promise<DryRunResult> {
    const declared = objects.filter((o) => o.apiVersion === 'v1' && o.kind === 'Namespace');
    const used = new Set<string>();
    for (const object of objects) {
      try {
        const ns = await this.namespaceOf(object);
        if (ns !== undefined) used.add(ns);
      } catch (error) {
        if (!(error instanceof UnknownKindError)) throw error;
      }
    }
    const declaredNames = new Set(declared.map((n) => n.metadata.name));
    for (const namespace of declared) {
      try {
        // Declared namespaces keep their labels (PodSecurity, injection), which admission reads.
        await this.applyServerSide([namespace]);
      } catch (error) {
        // Its own dry run below reports why; a bare namespace still lets its contents be checked.
        if (!(error instanceof KubeApiError)) throw error;
        used.add(namespace.metadata.name);
        declaredNames.delete(namespace.metadata.name);
      }
    }
    for (const name of used) {
      if (declaredNames.has(name)) continue;
      // Create-if-absent rather than apply: an apply would strip labels an earlier apply gave it.
      try {
        await this.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 409)) throw error;
      }
    }

    const result: DryRunResult = { accepted: [], rejections: [] };
    for (const object of objects) {
      let label = describeObject(object);
      try {
        label = describeObject(object, (await this.namespaceOf(object)) !== undefined);
        await this.applyServerSide([object], { dryRun: true });
        result.accepted.push(label);
      } catch (error) {
        if (!isRejection(error)) throw error;
        result.rejections.push({ object: label, reason: error.message });
      }
    }
    return result;
  }

  /** The object, or undefined when it does not exist. */
  async get(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined> {
    try {
      return await this.request<KubeObject>('GET', await this.path(apiVersion, kind, namespace, name));
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Objects of a kind, in one namespace or (namespace omitted) across all of them. */
  async list(apiVersion: string, kind: string, options: { namespace?: string; labelSelector?: string } = {}): Promise<KubeObject[]> {
    const query = options.labelSelector ? `?${new URLSearchParams({ labelSelector: options.labelSelector })}` : '';
    const list = await this.request<{ items?: KubeObject[] }>('GET', `${await this.path(apiVersion, kind, options.namespace)}${query}`);
    // Items of a list carry no apiVersion/kind; put them back so callers can pass items around.
    return (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
  }

  /**
   * Deletes an object (background propagation); false when it did not exist.
   * Note: without kube-controller-manager a deleted Namespace stays Terminating.
   */
  async delete(apiVersion: string, kind: string, name: string, namespace?: string): Promise<boolean> {
    try {
      await this.request('DELETE', await this.path(apiVersion, kind, namespace, name), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' },
      });
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return false;
      throw error;
    }
  }

  /**
   * Polls `probe` until it returns something other than undefined/false and returns that.
   * On timeout the error names `description` and the last probe error, if any.
   */
  async waitFor<T>(description: string, probe: () => Promise<T | undefined | false>, options: WaitOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (;;) {
      try {
        const value = await probe();
        if (value !== undefined && value !== false) return value;
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) {
        const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${why}`);
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
    }
  }

  /** Waits until `status.conditions[type]` has the given status (e.g. a CRD `Established`, a Deployment `Available`). */
  async waitForCondition(
    target: { apiVersion: string; kind: string; name: string; namespace?: string },
    type: string,
    options: WaitOptions & { status?: string } = {},
  ): Promise<KubeObject> {
    const want = options.status ?? 'True';
    return this.waitFor(
      `${target.kind} ${target.namespace ? `${target.namespace}/` : ''}${target.name} condition ${type}=${want}`,
      async () => {
        const object = await this.get(target.apiVersion, target.kind, target.name, target.namespace);
        const conditions = (object?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
        return conditions.some((c) => c.type === type && c.status === want) ? object : undefined;
      },
      options,
    );
  }

  /**
   * Applies CustomResourceDefinitions for real, waits until each is Established and its
   * kind shows up in discovery, so custom resources can be applied right after.
   */
  async installCrds(crds: readonly KubeObject[], options: WaitOptions = {}): Promise<void> {
    await this.applyServerSide(crds);
    for (const crd of crds) {
      await this.waitForCondition({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: crd.metadata.name }, 'Established', options);
    }
    const spec = (crd: KubeObject) => crd.spec as { group: string; names: { kind: string }; versions: { name: string; served: boolean }[] };
    const served = crds.flatMap((crd) =>
      spec(crd)
        .versions.filter((v) => v.served)
        .map((v) => ({ apiVersion: `${spec(crd).group}/${v.name}`, kind: spec(crd).names.kind })),
    );
    // Aggregated discovery is updated asynchronously after Established.
    await this.waitFor(
      'installed CRDs to appear in discovery',
      async () => {
        await this.refreshDiscovery();
        return served.every((s) => this.mappings?.has(`${s.apiVersion}|${s.kind}`));
      },
      options,
    );
  }
}
