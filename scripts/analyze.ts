/**
 * `npm run analyze`: the resilience analysis of synthesized manifests
 * (analysis/README.md). Exit code 1 when there is an error finding, 2 when
 * the input cannot be read.
 *
 * Usage: tsx scripts/analyze.ts [<dir|file.yaml>...] [--graph platform|env|<file.json>]
 *                               [--json] [--json-out <file>]
 *                               [--amplification-warning <n>] [--amplification-error <n>]
 *
 * Inputs default to dist/ (every *.yaml / *.yml in it). The call graph defaults
 * to meshkit's platform model (charts/platform.ts); `env` derives it from the
 * manifests' `*_URL` env values; a JSON file describes another app's graph.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..');
import { parseArgs } from 'node:util';
import { EnvReader, readBaseConfig } from '../apps/kit/config.js';
import { callGraph as platformEdges, handlers as platformHandlerSpecs, services as platformServices } from '../charts/platform.js';
import { callGraphFromEnv, callGraphFromJson, withHandlerEdges, type CallGraph, type Handler } from '../analysis/resilience-callgraph.js';
import { buildMeshModel, type MeshModel } from '../analysis/resilience-model.js';
import { reportJson, reportText } from '../analysis/resilience-report.js';
import { analyzeResilience, type AnalysisResult } from '../analysis/resilience-rules.js';
import { parseObjects } from '../manifests/parse.js';

export const platformHandlers: readonly Handler[] = platformHandlerSpecs;

/**
 * meshkit's call graph: public routes and edges from charts/platform.ts, the
 * handler sequences declared there, and each caller's client timeout as the service kit reads it
 * from the Deployment's env (HTTP_CLIENT_TIMEOUT_MS, else the kit's default).
 */
export function platformCallGraph(model: MeshModel): CallGraph {
  const declared = new Set(platformEdges.flatMap((e) => e.routes.map((r) => `${e.from}|${e.to}|${r.description}`)));
  for (const h of platformHandlers) {
    for (const c of h.sequences.flatMap((s) => s.calls)) {
      // A renamed route or a call outside the call graph must fail here, not silently drop out of the analysis.
      if (!declared.has(`${h.service}|${c.service}|${c.route}`))
        throw new Error(`platform handler ${h.service} ${h.route} calls ${c.service} ${c.route}, which charts/platform.ts callGraph does not declare`);
    }
  }
  const clientTimeoutsMs: Record<string, number> = {};
  for (const from of new Set(platformEdges.map((e) => e.from))) {
    const workload = model.workloads.find((w) => w.ref.kind === 'Deployment' && w.ref.name === from);
    clientTimeoutsMs[from] = readBaseConfig(from, new EnvReader(workload?.env ?? {})).httpClientTimeoutMs;
  }
  const source = 'platform model (charts/platform.ts)';
  return {
    source,
    publicRoutes: platformServices.flatMap((s) => s.publicRoutes.map((route) => ({ service: s.name, route: route.description }))),
    edges: withHandlerEdges(
      platformEdges.map((e) => ({ from: e.from, to: e.to, routes: e.routes.map((r) => r.description), source })),
      platformHandlers,
      source,
    ),
    handlers: platformHandlers,
    clientTimeoutsMs,
  };
}

/** YAML texts of the inputs: files as given, directories by their *.yaml / *.yml files in name order. */
export function readInputs(paths: readonly string[]): { files: string[]; texts: string[] } {
  const files: string[] = [];
  for (const p of paths) {
    const stat = statSync(p, { throwIfNoEntry: false });
    if (!stat) throw new Error(`${p} does not exist${basename(p) === 'dist' ? ': run `npm run synth` first' : ''}`);
    if (stat.isDirectory()) {
      const found = readdirSync(p)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(p, f));
      if (found.length === 0) throw new Error(`${p} holds no *.yaml files`);
      files.push(...found);
    } else files.push(p);
  }
  return { files, texts: files.map((f) => readFileSync(f, 'utf8')) };
}

/** What `npm run synth` reads: a change in any of them makes dist/ stale (analysis/, the analyzer, is not synth input). */
const synthSources = ['charts', 'constructs', 'mesh', 'imports'];

function newestSource(root: string): { file: string; mtimeMs: number } | undefined {
  let newest: { file: string; mtimeMs: number } | undefined;
  for (const dir of synthSources) {
    const base = join(root, dir);
    if (!statSync(base, { throwIfNoEntry: false })?.isDirectory()) continue;
    for (const entry of readdirSync(base, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
      const file = join(entry.parentPath, entry.name);
      const mtimeMs = statSync(file).mtimeMs;
      if (!newest || mtimeMs > newest.mtimeMs) newest = { file: file.slice(root.length + 1), mtimeMs };
    }
  }
  return newest;
}

/**
 * Why `<root>/dist` is older than the sources synth reads (a failed or forgotten synth), or
 * undefined when it is not: its oldest YAML file is compared with the newest source file.
 */
export function staleDist(root: string): string | undefined {
  const dist = join(root, 'dist');
  if (!statSync(dist, { throwIfNoEntry: false })?.isDirectory()) return undefined;
  const written = readdirSync(dist)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => statSync(join(dist, f)).mtimeMs);
  if (written.length === 0) return undefined;
  const oldest = Math.min(...written);
  const source = newestSource(root);
  if (!source || source.mtimeMs <= oldest) return undefined;
  const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  return `dist/ is older than the sources: ${source.file} changed at ${at(source.mtimeMs)}, dist/ was written at ${at(oldest)} (did the last synth fail?); run \`make synth\` first, or pass --allow-stale to analyze it anyway`;
}

export function callGraphFor(option: string, model: MeshModel): CallGraph {
  if (option === 'platform') return platformCallGraph(model);
  if (option === 'env') return callGraphFromEnv(model);
  return callGraphFromJson(readFileSync(option, 'utf8'), option);
}

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

const USAGE =
  'usage: analyze [<dir|file.yaml>...] [--graph platform|env|<file.json>] [--json] [--json-out <file>] [--amplification-warning <n>] [--amplification-error <n>] [--allow-stale]';

/**
 * The whole CLI without process globals, so tests can run it in-process too. `root` is where
 * the default input (`dist/`) and the sources it is checked against live.
 */
export function runAnalyze(argv: readonly string[], root = repoRoot): CliResult {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        graph: { type: 'string', default: 'platform' },
        json: { type: 'boolean', default: false },
        'json-out': { type: 'string' },
        'amplification-warning': { type: 'string' },
        'amplification-error': { type: 'string' },
        'allow-stale': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return { exitCode: 2, stdout: '', stderr: `${(err as Error).message}\n${USAGE}` };
  }
  if (values.help) return { exitCode: 0, stdout: USAGE, stderr: '' };
  const threshold = (name: string): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} (${String(raw)}) must be a whole number of at least 1`);
    return n;
  };

  // The default input, or dist/ named: refuse to analyze what a failed synth left behind.
  const inputs = positionals.length > 0 ? positionals : [join(root, 'dist')];
  let warning = '';
  if (inputs.some((p) => resolve(p) === join(root, 'dist'))) {
    const stale = staleDist(root);
    if (stale && !values['allow-stale']) return { exitCode: 2, stdout: '', stderr: `analyze: ${stale}` };
    if (stale) warning = `analyze: warning: ${stale}`;
  }

  let result: AnalysisResult;
  let graph: CallGraph;
  try {
    const { files, texts } = readInputs(inputs);
    const model = buildMeshModel(texts.flatMap((text, i) => parseObjects(text, files[i]!)));
    graph = callGraphFor(String(values.graph), model);
    result = analyzeResilience(model, graph, {
      amplificationWarningAbove: threshold('amplification-warning'),
      amplificationErrorAbove: threshold('amplification-error'),
    });
  } catch (err) {
    return { exitCode: 2, stdout: '', stderr: `analyze: ${(err as Error).message}` };
  }
  const json = reportJson(result, graph.source);
  if (typeof values['json-out'] === 'string') writeFileSync(values['json-out'], `${JSON.stringify(json, null, 2)}\n`);
  const stdout = values.json ? JSON.stringify(json, null, 2) : reportText(result, graph.source);
  return { exitCode: json.summary.errors > 0 ? 1 : 0, stdout, stderr: warning };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { exitCode, stdout, stderr } = runAnalyze(process.argv.slice(2));
  if (stdout) console.log(stdout);
  if (stderr) console.error(stderr);
  process.exitCode = exitCode;
}
