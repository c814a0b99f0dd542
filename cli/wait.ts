import type { Context } from './context.js';
import { diagnose, type DiagnoseDeps } from './diagnose.js';
import { formatDuration } from './plan.js';
import { describeRef, readiness, type Readiness, type Ref } from './readiness.js';

/** A wait that ran out of time; the message holds the diagnosis of everything still not ready. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly pending: readonly Ref[],
    message: string,
  ) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

export interface WaitOptions {
  readonly timeoutMs: number;
  /** What is being waited for, in the user's words ("the Kafka cluster"). */
  readonly what: string;
}

/**
 * Polls until every ref is ready (see `readiness`), printing what is still pending on a
 * heartbeat. On timeout, diagnoses each object that is not ready and throws.
 */
export async function waitUntilReady(
  ctx: Pick<Context, 'now' | 'sleep' | 'print' | 'timeouts'>,
  deps: DiagnoseDeps,
  refs: readonly Ref[],
  options: WaitOptions,
): Promise<void> {
  const started = ctx.now();
  let lastBeat = started;
  for (;;) {
    const states = await Promise.all(
      refs.map(async (ref): Promise<[Ref, Readiness]> => {
        try {
          return [ref, readiness(await deps.api.get(ref.apiVersion, ref.kind, ref.name, ref.namespace))];
        } catch (error) {
          // A kind not served yet (CRD still establishing) or a blip of the API server: keep polling.
          return [ref, { ready: false, detail: `cannot read it yet: ${error instanceof Error ? error.message : String(error)}` }];
        }
      }),
    );
    const pending = states.filter(([, r]) => !r.ready);
    if (pending.length === 0) return;
    const elapsed = ctx.now() - started;
    if (elapsed >= options.timeoutMs) {
      const diagnoses: string[] = [];
      for (const [ref] of pending) {
        try {
          diagnoses.push(await diagnose(deps, ref));
        } catch (error) {
          diagnoses.push(`${describeRef(ref)}: diagnosis failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      throw new WaitTimeoutError(
        pending.map(([ref]) => ref),
        `timed out after ${formatDuration(options.timeoutMs)} waiting for ${options.what}: ${pending.length} of ${refs.length} not ready\n\n${diagnoses.join('\n\n')}`,
      );
    }
    if (ctx.now() - lastBeat >= ctx.timeouts.heartbeatMs) {
      lastBeat = ctx.now();
      const list = pending.map(([ref, r]) => `${describeRef(ref)} (${r.detail})`);
      ctx.print(`  … ${formatDuration(elapsed)}: waiting for ${list.slice(0, 4).join(', ')}${list.length > 4 ? ` and ${list.length - 4} more` : ''}`);
    }
    await ctx.sleep(Math.min(ctx.timeouts.pollMs, Math.max(1, options.timeoutMs - elapsed)));
  }
}
