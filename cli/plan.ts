import type { Context } from './context.js';

/** What a step finds in place: `done` means there is nothing to do. */
export interface Probe {
  readonly done: boolean;
  readonly detail: string;
}

export interface Step {
  readonly id: string;
  readonly title: string;
  /** Looks at the cluster without changing it; `up` skips the step when it reports done. */
  probe?(): Promise<Probe>;
  /**
   * Steps that server-side apply always run: re-applying is how they converge, and an
   * unchanged object costs one request. Their probe only feeds `status`.
   */
  readonly alwaysRun?: boolean;
  /** Does the work; resolves to a one-line summary. */
  run(): Promise<string>;
}

export type Outcome = 'ran' | 'skipped' | 'failed' | 'not run';

export interface StepResult {
  readonly id: string;
  readonly title: string;
  readonly outcome: Outcome;
  readonly detail: string;
  readonly ms: number;
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
}

/**
 * Runs steps in order: probe, then skip or run. Stops at the first failure, prints the
 * error (which carries the diagnosis) and marks the rest `not run`. Every step line
 * carries its time.
 */
export async function runPlan(ctx: Pick<Context, 'print' | 'now'>, name: string, steps: readonly Step[]): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const started = ctx.now();
  ctx.print(`meshkit ${name}: ${steps.length} steps`);
  let failed = false;
  for (const [index, step] of steps.entries()) {
    const label = `[${index + 1}/${steps.length}] ${step.title}`;
    if (failed) {
      results.push({ id: step.id, title: step.title, outcome: 'not run', detail: '', ms: 0 });
      continue;
    }
    const t0 = ctx.now();
    ctx.print(`▶ ${label}`);
    try {
      const probe = step.probe && !step.alwaysRun ? await step.probe() : undefined;
      if (probe?.done) {
        const ms = ctx.now() - t0;
        ctx.print(`  – skipped (${formatDuration(ms)}): ${probe.detail}`);
        results.push({ id: step.id, title: step.title, outcome: 'skipped', detail: probe.detail, ms });
        continue;
      }
      if (probe) ctx.print(`  ${probe.detail}`);
      const detail = await step.run();
      const ms = ctx.now() - t0;
      ctx.print(`  ✓ done (${formatDuration(ms)}): ${detail}`);
      results.push({ id: step.id, title: step.title, outcome: 'ran', detail, ms });
    } catch (error) {
      const ms = ctx.now() - t0;
      const message = error instanceof Error ? error.message : String(error);
      ctx.print(`  ✗ failed (${formatDuration(ms)}):`);
      for (const line of message.split('\n')) ctx.print(`    ${line}`);
      results.push({ id: step.id, title: step.title, outcome: 'failed', detail: message.split('\n')[0] ?? '', ms });
      failed = true;
    }
  }
  ctx.print('');
  ctx.print(`meshkit ${name}: ${failed ? 'FAILED' : 'done'} in ${formatDuration(ctx.now() - started)}`);
  for (const r of results) ctx.print(`  ${r.outcome.padEnd(8)} ${formatDuration(r.ms).padStart(7)}  ${r.title}`);
  return results;
}
