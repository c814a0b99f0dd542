import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from './errors.js';

export interface ChaosSettings {
  /** Fraction of public requests answered with 503 (0 to 1). */
  readonly failRate: number;
  /** Latency added before each public request is handled. */
  readonly latencyMs: number;
}

/**
 * The run-time fault switch of one pod, set through the admin port, so a demo
 * can make a single replica misbehave and watch outlier detection eject it.
 */
export class ChaosSwitch {
  private settings: ChaosSettings = { failRate: 0, latencyMs: 0 };

  constructor(private readonly random: () => number = Math.random) {}

  get current(): ChaosSettings {
    return this.settings;
  }

  /** Whether a fault is set; the request path skips the switch entirely when none is. */
  get active(): boolean {
    return this.settings.failRate > 0 || this.settings.latencyMs > 0;
  }

  set(settings: ChaosSettings): void {
    this.settings = settings;
  }

  reset(): void {
    this.settings = { failRate: 0, latencyMs: 0 };
  }

  /** Waits the configured latency, then throws a 503 for the configured fraction of calls. */
  async apply(): Promise<void> {
    const { failRate, latencyMs } = this.settings;
    if (latencyMs > 0) await sleep(latencyMs);
    if (failRate > 0 && this.random() < failRate) {
      throw new AppError(503, 'CHAOS_INJECTED', `fault injected by the chaos switch (failRate ${failRate})`);
    }
  }
}

export const chaosSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    failRate: { type: 'number', minimum: 0, maximum: 1, default: 0 },
    latencyMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 0 },
  },
} as const;
