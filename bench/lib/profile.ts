import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a V8 .cpuprofile (node --cpu-prof) holds, as far as we read it. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber?: number; columnNumber?: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

/** Where CPU goes in a server's main thread, by the first category found walking each sample's stack from the leaf up. */
const CATEGORIES: ReadonlyArray<readonly [string, RegExp]> = [
  [
    "the ServiceClient's calls (HTTP client: Node's built-in fetch (undici) until 2026-12-02, node:http with a keep-alive Agent since)",
    /undici|webstreams|abort_controller|domexception|js_transferable|_http_client|_http_agent|apps\/kit\/http-client/,
  ],
  ['pg (PostgreSQL driver, its socket writes included)', /node_modules\/pg/],
  ['express, router, body parsing', /node_modules\/(express|router|body-parser|raw-body|finalhandler|send|qs|type-is|content-type|iconv-lite)\//],
  ['ajv (validation)', /node_modules\/ajv/],
  ['pino (logging)', /node_modules\/(pino|sonic-boom)/],
  ['prom-client (metrics)', /node_modules\/prom-client/],
  ['the kit and the service (apps/)', /\/apps\//],
];

export interface ProfileSummary {
  /** Milliseconds the main thread was busy (not idle) during the profile. */
  readonly busyMs: number;
  /** Share of the busy time per category, in percent. */
  readonly sharePct: Record<string, number>;
}

/** The largest .cpuprofile in `dir` (the main thread's). */
function largestProfile(dir: string): CpuProfile {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
  const file = files.sort((a, b) => readFileSync(b).length - readFileSync(a).length)[0];
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Summarizes the largest .cpuprofile in `dir` (the main thread's). */
export function summarizeProfile(dir: string): ProfileSummary {
  const profile = largestProfile(dir);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totals = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const leaf = byId.get(id);
    if (!leaf || leaf.callFrame.functionName === '(idle)') continue;
    busy += us;
    let category = leaf.callFrame.functionName === '(garbage collector)' ? 'garbage collection' : 'other (Node internals, timers, event loop)';
    for (let cur: number | undefined = id, depth = 0; cur !== undefined && depth < 500; cur = parent.get(cur), depth += 1) {
      const url = byId.get(cur)?.callFrame.url ?? '';
      const hit = CATEGORIES.find(([, pattern]) => pattern.test(url));
      if (hit) {
        category = hit[0];
        break;
      }
    }
    totals.set(category, (totals.get(category) ?? 0) + us);
  }
  const sharePct = Object.fromEntries([...totals].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, Math.round((us / busy) * 1000) / 10]));
  return { busyMs: Math.round(busy / 1000), sharePct };
}

/** Where a frame's code lives: an npm package, a file of ours, a Node module, or V8's own bucket. */
function ownerOf(url: string, functionName: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/((?:apps|bench)\/.+)$/.exec(url);
  if (ours) return ours[1]!;
  if (url.startsWith('node:')) return url;
  return url === '' ? functionName : url;
}

/**
 * Self time of the busy main thread by owner (package, our file, Node module) and by function,
 * in microseconds per `units` (e.g. per request), largest first: what to compare between two
 * arms of a benchmark profiled at the same load.
 */
export function selfTimePer(dir: string, units: number): { byOwner: Record<string, number>; byFunction: Record<string, number>; busyUs: number } {
  const profile = largestProfile(dir);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)?.callFrame;
    const us = profile.timeDeltas[i] ?? 0;
    if (!frame || frame.functionName === '(idle)') return;
    busy += us;
    const owner = ownerOf(frame.url, frame.functionName);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} ${owner}:${frame.lineNumber ?? ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  });
  const per = (m: Map<string, number>) =>
    Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, Math.round((us / Math.max(1, units)) * 10) / 10]));
  return { byOwner: per(owners), byFunction: per(functions), busyUs: Math.round((busy / Math.max(1, units)) * 10) / 10 };
}

/** A frame of a V8 .cpuprofile, as `attributeProfile` hands it to an owner function. */
export type ProfileFrame = CpuProfile['nodes'][number]['callFrame'];

export interface Attribution {
  /** Milliseconds the main thread was busy (samples not idle). */
  readonly busyMs: number;
  /** Self time by the owner of the sampled frame, ms. */
  readonly self: Record<string, number>;
  /**
   * Time by the nearest owner that is not the runtime, walking from the sampled frame towards the
   * root: what code asked for the work (JSON.stringify the kit calls counts as the kit's), ms.
   * Samples with no such frame (timers, sockets, the event loop itself) stay with their own owner.
   */
  readonly onBehalfOf: Record<string, number>;
}

/** Reads a .cpuprofile. */
export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/**
 * Splits a profile's busy time by owner: `ownerOf` names a frame's owner (a package, a folder of
 * ours, Node, V8), `isRuntime` says which owners are the runtime rather than code that asks it.
 */
export function attributeProfile(
  profile: CpuProfile,
  ownerOf: (frame: ProfileFrame) => string,
  isRuntime: (owner: string) => boolean,
  /** Samples with a frame of this owner anywhere on their stack are left out (the profiler's own work). */
  excluded?: string,
): Attribution {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owners = new Map<number, string>();
  const owner = (id: number) => {
    let o = owners.get(id);
    if (o === undefined) owners.set(id, (o = ownerOf(byId.get(id)!.callFrame)));
    return o;
  };
  const self = new Map<string, number>();
  const onBehalf = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    if (byId.get(id)?.callFrame.functionName === '(idle)') return;
    if (excluded !== undefined) {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) if (owner(cur) === excluded) return;
    }
    busy += us;
    const leaf = owner(id);
    self.set(leaf, (self.get(leaf) ?? 0) + us);
    let asker = leaf;
    for (let cur: number | undefined = id; cur !== undefined && isRuntime(asker); cur = parent.get(cur)) {
      const o = owner(cur);
      if (!isRuntime(o)) asker = o;
    }
    onBehalf.set(asker, (onBehalf.get(asker) ?? 0) + us);
  });
  const ms = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, us / 1000]));
  return { busyMs: busy / 1000, self: ms(self), onBehalfOf: ms(onBehalf) };
}
