/**
 * Who calls whom, on which routes, and in what order: the part of the
 * resilience analysis that manifests do not say. Three sources: a platform
 * model (meshkit's charts/platform.ts, converted by scripts/analyze.ts), a JSON
 * file for other apps, or the manifests alone (env `*_URL` values name the
 * callee but not its routes).
 */
import type { MeshModel, ServiceHost } from './resilience-model.js';
import { resolveHost } from './resilience-model.js';
import { selects } from '../manifests/selectors.js';

import type { Handler, RouteRef } from '../mesh/call-sequence.js';

export type { CallSequence, Handler, RouteRef } from '../mesh/call-sequence.js';

export interface CallEdge {
  readonly from: string;
  readonly to: string;
  /** Routes of `to` that `from` calls; undefined when unknown (edges derived from env). */
  readonly routes?: readonly string[];
  /** Where the edge was declared, for messages. */
  readonly source: string;
}

export interface CallGraph {
  /** "platform model", "env of the manifests", a file name. */
  readonly source: string;
  readonly publicRoutes: readonly RouteRef[];
  readonly edges: readonly CallEdge[];
  /**
   * Handlers whose calls are known. A service with at least one handler is
   * assumed to call nothing from its other routes; a service with none is
   * assumed to call every edge from every route (the worst case).
   */
  readonly handlers: readonly Handler[];
  /** The caller app's own timeout for calls to other services, by service name. */
  readonly clientTimeoutsMs: Readonly<Record<string, number>>;
}

/** Env var some apps use for their client timeout (meshkit's service kit reads it). */
export const CLIENT_TIMEOUT_ENV = 'HTTP_CLIENT_TIMEOUT_MS';

/**
 * Edges from the manifests alone: every literal env value `*_URL` that is an
 * http(s) URL of an in-cluster Service is a call from the Service selecting the
 * workload to that Service. Routes stay unknown. A literal HTTP_CLIENT_TIMEOUT_MS
 * becomes the caller's client timeout.
 */
export function callGraphFromEnv(model: MeshModel): CallGraph {
  const edges: CallEdge[] = [];
  const clientTimeoutsMs: Record<string, number> = {};
  for (const workload of model.workloads) {
    const from = owningService(model, workload.ref.namespace, workload.podLabels);
    if (!from) continue;
    for (const [name, value] of Object.entries(workload.env)) {
      if (!name.endsWith('_URL') || !/^https?:\/\//.test(value)) continue;
      let host: string;
      try {
        host = new URL(value).hostname;
      } catch {
        continue;
      }
      const to = resolveHost(model.services, host, workload.ref.namespace);
      if (to && to.key !== from.key)
        edges.push({ from: from.name, to: to.name, source: `env ${name} of ${workload.ref.kind} ${workload.ref.namespace}/${workload.ref.name}` });
    }
    const timeout = Number(workload.env[CLIENT_TIMEOUT_ENV]);
    if (workload.env[CLIENT_TIMEOUT_ENV] !== undefined && Number.isFinite(timeout)) clientTimeoutsMs[from.name] = timeout;
  }
  return { source: 'env of the manifests', publicRoutes: publicRoutesFromGateways(model), edges, handlers: [], clientTimeoutsMs };
}

/**
 * Public routes read off gateway-bound VirtualServices: one per match whose
 * method is exact and whose path is exact, a prefix, or a regex of plain
 * segments and `[^/]+` (read back as `{param}`). Other matches are skipped.
 */
export function publicRoutesFromGateways(model: MeshModel): RouteRef[] {
  // route + service + path -> methods, so GET and HEAD of one route read back as "GET|HEAD /path".
  const found = new Map<string, { service: string; path: string; methods: string[] }>();
  for (const vs of model.virtualServices.filter((v) => v.boundToGateway)) {
    for (const route of vs.http) {
      const service = route.destinations.map((d) => (d.service ? model.services.get(d.service) : undefined)).find((s) => s !== undefined);
      if (!service) continue;
      for (const m of route.matches ?? []) {
        const method = m.method?.exact;
        const path = m.uri?.exact ?? m.uri?.prefix ?? templateOfRegex(m.uri?.regex);
        if (!method || !path) continue;
        const key = `${route.name} ${service.name}.${service.namespace} ${path}`;
        const entry = found.get(key) ?? { service: `${service.name}.${service.namespace}`, path, methods: [] };
        if (!entry.methods.includes(method)) entry.methods.push(method);
        found.set(key, entry);
      }
    }
  }
  return [...found.values()].map((e) => ({ service: e.service, route: `${e.methods.join('|')} ${e.path}` }));
}

function templateOfRegex(regex: string | undefined): string | undefined {
  if (!regex) return undefined;
  const body = regex.replace(/^\^/, '').replace(/\$$/, '');
  // Anything beyond literal (or escaped) characters and one-segment wildcards is not a path template.
  const rest = body.replace(/\[\^\/\]\+/g, '').replace(/\\[.\-/]/g, '');
  if (/[\\^$.*+?()[\]{}|]/.test(rest)) return undefined;
  return body.replace(/\[\^\/\]\+/g, '{param}').replace(/\\([.\-/])/g, '$1');
}

function owningService(model: MeshModel, namespace: string, labels: Readonly<Record<string, string>>): ServiceHost | undefined {
  return [...model.services.values()].find((s) => s.namespace === namespace && s.selector && Object.keys(s.selector).length > 0 && selects(s.selector, labels));
}

/**
 * Reads a call graph file:
 * `{ publicRoutes: [{service, route}], edges: [{from, to, routes?}],
 *    handlers: [{service, route, sequences: [{name, calls: [{service, route}]}]}],
 *    clientTimeoutsMs: {service: ms} }` — every key optional. Calls named in
 * handlers count as edges without being listed again.
 */
export function callGraphFromJson(text: string, source: string): CallGraph {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  const problems: string[] = [];
  const obj = isRecord(raw) ? raw : (problems.push('the top level must be an object'), {});
  const list = (value: unknown, where: string): unknown[] => {
    if (value === undefined) return [];
    if (Array.isArray(value)) return value;
    problems.push(`${where} must be an array`);
    return [];
  };
  const str = (value: unknown, where: string): string => {
    if (typeof value === 'string' && value.trim() !== '') return value;
    problems.push(`${where} must be a non-empty string`);
    return '';
  };
  const routeRef = (value: unknown, where: string): RouteRef => {
    const r = isRecord(value) ? value : {};
    return { service: str(r.service, `${where}.service`), route: str(r.route, `${where}.route`) };
  };

  const publicRoutes = list(obj.publicRoutes, 'publicRoutes').map((r, i) => routeRef(r, `publicRoutes[${i}]`));
  const handlers: Handler[] = list(obj.handlers, 'handlers').map((h, i) => {
    const where = `handlers[${i}]`;
    const rec = isRecord(h) ? h : {};
    return {
      service: str(rec.service, `${where}.service`),
      route: str(rec.route, `${where}.route`),
      sequences: list(rec.sequences, `${where}.sequences`).map((s, j) => {
        const seq = isRecord(s) ? s : {};
        return {
          name: typeof seq.name === 'string' ? seq.name : `sequence ${j + 1}`,
          calls: list(seq.calls, `${where}.sequences[${j}].calls`).map((c, k) => routeRef(c, `${where}.sequences[${j}].calls[${k}]`)),
        };
      }),
    };
  });
  const edges: CallEdge[] = list(obj.edges, 'edges').map((e, i) => {
    const rec = isRecord(e) ? e : {};
    const routes = rec.routes === undefined ? undefined : list(rec.routes, `edges[${i}].routes`).map((r, j) => str(r, `edges[${i}].routes[${j}]`));
    return { from: str(rec.from, `edges[${i}].from`), to: str(rec.to, `edges[${i}].to`), routes, source };
  });
  const clientTimeoutsMs: Record<string, number> = {};
  if (obj.clientTimeoutsMs !== undefined) {
    if (!isRecord(obj.clientTimeoutsMs)) problems.push('clientTimeoutsMs must be an object of service -> milliseconds');
    else
      for (const [service, ms] of Object.entries(obj.clientTimeoutsMs)) {
        if (typeof ms === 'number' && ms > 0) clientTimeoutsMs[service] = ms;
        else problems.push(`clientTimeoutsMs.${service} must be a positive number of milliseconds`);
      }
  }
  if (problems.length > 0) throw new Error(`${source}: invalid call graph:\n  - ${problems.join('\n  - ')}`);
  return { source, publicRoutes, edges: withHandlerEdges(edges, handlers, source), handlers, clientTimeoutsMs };
}

/** Adds an edge for every handler call not already covered by a declared edge. */
export function withHandlerEdges(edges: readonly CallEdge[], handlers: readonly Handler[], source: string): CallEdge[] {
  const result = [...edges];
  for (const h of handlers) {
    for (const call of h.sequences.flatMap((s) => s.calls)) {
      const covered = result.some((e) => e.from === h.service && e.to === call.service && (e.routes === undefined || e.routes.includes(call.route)));
      if (!covered) result.push({ from: h.service, to: call.service, routes: [call.route], source: `${source} (handler ${h.service} ${h.route})` });
    }
  }
  return result;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Finds the Service a call graph name means: "order" (unique across namespaces)
 * or "order.shop". Returns undefined when it names none or several.
 */
export function serviceByName(model: MeshModel, name: string): ServiceHost | undefined {
  const [short, namespace] = name.split('.');
  if (namespace) return model.services.get(`${namespace}/${short}`);
  const found = [...model.services.values()].filter((s) => s.name === short);
  return found.length === 1 ? found[0] : undefined;
}
