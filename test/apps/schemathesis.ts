import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { services, type ServiceName } from '../../charts/platform.js';
import { pathOf, user } from '../../contract/index.js';
import { repoRoot } from '../../infra/cache.js';
import { ensurePythonTool } from '../../infra/python-tools.js';
import { request, startEveryService, startWaves } from './support.js';

/**
 * Schema-driven fuzzing with schemathesis (PyPI, pinned in infra/python-tools.ts) from the
 * committed OpenAPI document of a service, against a running instance of it.
 *
 * Deterministic: a fixed seed, no example database carried between runs, one worker. Bounded:
 * the coverage phase (boundary and negative values per schema keyword, a fixed set) plus
 * `maxExamples` random cases per operation in the fuzzing phase; no stateful phase.
 */
export interface FuzzOptions {
  readonly service: ServiceName;
  readonly baseUrl: string;
  /** Headers sent with every request (the mesh's x-user-id of a registered user). */
  readonly headers?: Readonly<Record<string, string>>;
  /** @default 10 */
  readonly maxExamples?: number;
  /** @default 12 */
  readonly seed?: number;
}

export interface FuzzFailure {
  readonly operation: string;
  readonly check: string;
  readonly request: string;
  readonly status: number | undefined;
  readonly body: string;
}

export interface FuzzResult {
  readonly requests: number;
  /** Answers with a 5xx status, whatever the checks said. */
  readonly serverErrors: number;
  readonly failures: readonly FuzzFailure[];
  readonly seconds: number;
  /** schemathesis's own summary, for the failure message. */
  readonly output: string;
  /** schemathesis's NDJSON report, kept when a check failed (else removed). */
  readonly report: string | undefined;
}

/**
 * The checks asserted: no 5xx; every answer's status, content type and body as the document
 * says; what the schema forbids refused (4xx), what it allows not refused with a 400.
 */
export const FUZZ_CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'positive_data_acceptance',
] as const;

/** Installs schemathesis when missing (synchronous: call it before any service starts). */
export function schemathesisBinary(): string {
  return ensurePythonTool('schemathesis');
}

// Recorded interactions in schemathesis's NDJSON report (the fields read here).
interface Interaction {
  request: { method: string; uri: string; body?: { $base64?: string } };
  response?: { status_code: number; content?: { $base64?: string } };
}
interface Check {
  name: string;
  status: string;
}
interface ScenarioFinished {
  recorder: { label: string; checks?: Record<string, Check[]>; interactions?: Record<string, Interaction> };
}

const decode = (b?: { $base64?: string }) => (b?.$base64 ? Buffer.from(b.$base64, 'base64').toString('utf8') : '');

/** Runs schemathesis asynchronously (the services under test may share this process's event loop). */
export async function fuzz(binary: string, options: FuzzOptions): Promise<FuzzResult> {
  const reportDir = mkdtempSync(join(tmpdir(), `fuzz-${options.service}-`));
  const args = [
    '--config-file',
    join(repoRoot, 'test', 'apps', 'schemathesis.toml'),
    'run',
    join(repoRoot, 'docs', 'openapi', `${options.service}.json`),
    '--url',
    options.baseUrl,
    '--seed',
    String(options.seed ?? 12),
    '--workers',
    '1',
    '--max-examples',
    String(options.maxExamples ?? 10),
    '--phases',
    'examples,coverage,fuzzing',
    '--checks',
    FUZZ_CHECKS.join(','),
    '--request-timeout',
    '15',
    '--report',
    'ndjson',
    '--report-dir',
    reportDir,
    '--no-color',
    ...Object.entries(options.headers ?? {}).flatMap(([name, value]) => ['--header', `${name}:${value}`]),
  ];
  const started = Date.now();
  let keep = false;
  try {
    const child = spawn(binary, args, { cwd: reportDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    const report = readdirSync(reportDir).find((f) => f.endsWith('.ndjson'));
    if (!report) throw new Error(`schemathesis exited ${code} without a report:\n${output}`);
    let requests = 0;
    let serverErrors = 0;
    const failures: FuzzFailure[] = [];
    for (const line of readFileSync(join(reportDir, report), 'utf8').split('\n')) {
      if (!line.startsWith('{"ScenarioFinished"')) continue;
      const { recorder } = (JSON.parse(line) as { ScenarioFinished: ScenarioFinished }).ScenarioFinished;
      for (const [id, interaction] of Object.entries(recorder.interactions ?? {})) {
        requests += 1;
        const status = interaction.response?.status_code;
        if (status !== undefined && status >= 500) serverErrors += 1;
        for (const check of recorder.checks?.[id] ?? []) {
          if (check.status !== 'failure') continue;
          const body = decode(interaction.request.body);
          failures.push({
            operation: recorder.label,
            check: check.name,
            request: `${interaction.request.method} ${interaction.request.uri.replace(options.baseUrl, '')}${body ? ` ${body.slice(0, 300)}` : ''}`,
            status,
            body: decode(interaction.response?.content).slice(0, 300),
          });
        }
      }
    }
    if (code !== 0 && failures.length === 0) throw new Error(`schemathesis exited ${code} and recorded no failed check:\n${output}`);
    keep = failures.length > 0 || serverErrors > 0;
    const kept = keep ? join(reportDir, report) : undefined;
    return { requests, serverErrors, failures, seconds: (Date.now() - started) / 1000, output: `${output.slice(-4000)}\nreport: ${kept}`, report: kept };
  } finally {
    if (!keep) rmSync(reportDir, { recursive: true, force: true });
  }
}

/**
 * Registers the fuzz suite: every service of the model started in this process, wired as the
 * charts wire its pod (each also with the env `envFor` gives it, e.g. its own database), one registered user whose id the fuzzer sends as
 * the mesh's x-user-id, schemathesis against every service at once (one process with one worker
 * each, so each run is deterministic), and one test per service asserting no 5xx and no answer
 * that departs from its docs/openapi document.
 */
export function fuzzTheShop(label: string, envFor: (service: ServiceName) => Promise<Record<string, string>>): void {
  const running = new Map<ServiceName, RunningService>();
  const results = new Map<ServiceName, Promise<FuzzResult>>();

  beforeAll(async () => {
    const binary = schemathesisBinary();
    await startEveryService(running, envFor);
    const register = user.routes.register;
    const registered = await request(running.get(register.service)!.url, register.method, pathOf(register), {
      json: { email: 'fuzz@example.org', password: 'password123', name: 'Fuzz' },
    });
    const headers = { 'x-user-id': registered.body.id as string };
    for (const s of services) results.set(s.name, fuzz(binary, { service: s.name, baseUrl: running.get(s.name)!.url, headers }));
    await Promise.allSettled(results.values());
  }, 600_000);
  afterAll(async () => {
    // Callers first: they call the others while they stop.
    for (const wave of startWaves().reverse()) await Promise.all(wave.map((name) => running.get(name)?.stop()));
  }, 60_000);

  describe(`schemathesis against the services on ${label}`, () => {
    it.each(services.map((s) => s.name))('finds no 5xx and no answer that departs from docs/openapi/%s.json', async (name) => {
      const result = await results.get(name)!;
      console.log(
        `fuzz ${name} (${label}): ${result.requests} requests in ${result.seconds.toFixed(1)} s, ${result.serverErrors} 5xx, ${result.failures.length} failed checks`,
      );
      expect(result.requests).toBeGreaterThan(20);
      expect(result.failures, result.output).toEqual([]);
      expect(result.serverErrors).toBe(0);
    });
  });
}
