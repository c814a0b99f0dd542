import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a V8 .cpuprofile (node --cpu-prof) holds, as far as we read it. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string }; children?: number[] }>;
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

/** Summarizes the largest .cpuprofile in `dir` (the main thread's). */
export function summarizeProfile(dir: string): ProfileSummary {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
  const file = files.sort((a, b) => readFileSync(b).length - readFileSync(a).length)[0];
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
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
