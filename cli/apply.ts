import type { KubeObject } from './cluster-api.js';
import type { Context } from './context.js';
import type { DiagnoseDeps } from './diagnose.js';
import { orderForApply } from '../manifests/deploy-order.js';
import { describeRef, refOf } from './readiness.js';
import { waitUntilReady } from './wait.js';

export interface ApplySummary {
  readonly created: string[];
  readonly configured: string[];
  readonly unchanged: string[];
}

export function summarize(s: ApplySummary): string {
  const total = s.created.length + s.configured.length + s.unchanged.length;
  return `${total} objects: ${s.created.length} created, ${s.configured.length} configured, ${s.unchanged.length} unchanged`;
}

interface CrdSpec {
  group: string;
  names: { kind: string };
  versions: { name: string; served: boolean }[];
}

/**
 * Server-side applies `objects` in dependency order (manifests/deploy-order.ts). CustomResourceDefinitions
 * go first and must be Established and served before any custom resource is sent. Reports
 * what changed: a no-op apply leaves resourceVersion alone, so comparing it tells
 * "configured" from "unchanged".
 */
export async function applyObjects(
  ctx: Pick<Context, 'now' | 'sleep' | 'print' | 'timeouts'>,
  deps: DiagnoseDeps,
  objects: readonly KubeObject[],
  options: { timeoutMs: number },
): Promise<ApplySummary> {
  const summary: ApplySummary = { created: [], configured: [], unchanged: [] };
  const ordered = orderForApply(objects);
  const crds = ordered.filter((o) => o.kind === 'CustomResourceDefinition');
  const rest = ordered.filter((o) => o.kind !== 'CustomResourceDefinition');
  await applyEach(deps, crds, summary);
  if (crds.length > 0) {
    await waitUntilReady(ctx, deps, crds.map(refOf), { timeoutMs: options.timeoutMs, what: `${crds.length} CustomResourceDefinitions to be Established` });
    await waitServed(ctx, deps, crds, options.timeoutMs);
  }
  await applyEach(deps, rest, summary);
  return summary;
}

async function applyEach(deps: DiagnoseDeps, objects: readonly KubeObject[], summary: ApplySummary): Promise<void> {
  for (const object of objects) {
    const label = describeRef(refOf(object));
    try {
      const before = await deps.api.get(object.apiVersion, object.kind, object.metadata.name, object.metadata.namespace);
      const [after] = await deps.api.apply([object]);
      if (!before) summary.created.push(label);
      else if (before.metadata.resourceVersion !== after?.metadata.resourceVersion) summary.configured.push(label);
      else summary.unchanged.push(label);
    } catch (error) {
      throw new Error(`applying ${label} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

/** Discovery is updated asynchronously after Established: wait until every served version is there. */
async function waitServed(ctx: Pick<Context, 'now' | 'sleep' | 'timeouts'>, deps: DiagnoseDeps, crds: readonly KubeObject[], timeoutMs: number): Promise<void> {
  const wanted = crds.flatMap((crd) => {
    const spec = crd.spec as CrdSpec;
    return spec.versions.filter((v) => v.served).map((v) => ({ apiVersion: `${spec.group}/${v.name}`, kind: spec.names.kind }));
  });
  const deadline = ctx.now() + timeoutMs;
  for (const w of wanted) {
    while (!(await deps.api.serves(w.apiVersion, w.kind))) {
      if (ctx.now() >= deadline) throw new Error(`the API server does not serve ${w.kind} in ${w.apiVersion} although its CRD is Established`);
      await ctx.sleep(Math.min(ctx.timeouts.pollMs, 500));
    }
  }
}
