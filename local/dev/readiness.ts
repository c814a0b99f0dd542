/**
 * Readiness of a local service: its admin port's `GET /health/ready` must answer 200 (the
 * probe the synthesized Deployments use), polled until a deadline or until the process exits.
 */

export const READY_POLL_MS = 100;

/** One probe: undefined when ready, else what was seen (status and body, or the connection error). */
export async function probeReady(adminUrl: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${adminUrl}/health/ready`, { signal: AbortSignal.timeout(1000) });
    const body = await res.text();
    return res.status === 200 ? undefined : `${res.status} ${body.slice(0, 200)}`;
  } catch (err) {
    return (err as { cause?: { code?: string } }).cause?.code ?? (err instanceof Error ? err.message : String(err));
  }
}

export type ReadyOutcome =
  | { readonly ready: true; readonly ms: number }
  | { readonly ready: false; readonly exited: true }
  | { readonly ready: false; readonly exited: false; readonly lastAnswer: string };

/**
 * Polls `probeReady` every READY_POLL_MS until it answers 200 (`ready`, with the milliseconds
 * since `began`), `gone()` says the process ended, or `timeoutMs` passed (with the last answer).
 */
export async function waitForReady(
  adminUrl: string,
  options: { readonly timeoutMs: number; readonly began: number; readonly gone: () => boolean },
): Promise<ReadyOutcome> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    if (options.gone()) return { ready: false, exited: true };
    const answer = await probeReady(adminUrl);
    if (answer === undefined) return { ready: true, ms: Math.round(performance.now() - options.began) };
    last = answer;
    if (Date.now() >= deadline) return { ready: false, exited: false, lastAnswer: last };
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}
