/**
 * The kubelet's status manager for one pod: the pod's status reaches the apiserver one write at a
 * time, each write carries the state as it is when sent, and a failed write is retried until it
 * lands. Writes fired independently could land out of order (an older NotReady after a newer
 * Ready), and a write remembered as sent before it landed was never sent again: either leaves a
 * pod whose probes pass NotReady for good (a fresh-clone CI run on 2026-12-02 waited 900 s on the
 * ingress gateway while its Envoy had been ready since second 3).
 */
export interface RenderedStatus {
  /** The body sent as `status`. */
  readonly status: Record<string, unknown>;
  /** What decides whether it changed (the status without its timestamps). */
  readonly key: string;
}

export class PodStatusWriter {
  private written = '';
  private queue: Promise<void> = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    /** Renders the pod's status as it is now. */
    private readonly render: () => RenderedStatus,
    /** Writes one status to the apiserver. */
    private readonly send: (status: Record<string, unknown>) => Promise<void>,
    private readonly retryMs = 1000,
  ) {}

  /**
   * Queues a write of the current status (skipped when the apiserver already has it). Resolves once
   * it landed; rejects with the write's error, after which the writer keeps retrying on its own.
   */
  write(): Promise<void> {
    const attempt = this.queue.then(async () => {
      if (this.closed) return;
      const { status, key } = this.render();
      if (key === this.written) return;
      await this.send(status);
      this.written = key;
    });
    this.queue = attempt.catch(() => this.retryLater());
    return attempt;
  }

  /** Stops writing: the pod is gone or going. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }

  private retryLater(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.write().catch(() => undefined);
    }, this.retryMs);
  }
}
