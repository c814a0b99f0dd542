import type { ChaosEnvironment } from './environment.js';
import type { LoadResult, LoadTarget, TargetPhaseStats } from '../load/generator.js';
import type { MetricsCollector } from './metrics/collector.js';
import type { Check } from './report.js';
import type { ShopWorkload } from './workload.js';

/** How long and how hard a scenario runs. Every value has a scenario default; the CLI and tests may override. */
export interface Timings {
  readonly baselineMs: number;
  /** From the start of the injection until it is reverted (a revert that waits for a replacement pod counts here). */
  readonly duringMs: number;
  readonly afterMs: number;
  readonly ratePerSecond: number;
  /** In-flight cap of the load generator. */
  readonly concurrency: number;
  /** Client-side limit of one request. */
  readonly requestTimeoutMs: number;
  /** How long a revert may wait for a killed pod's replacement (or a stopped broker). */
  readonly restoreTimeoutMs: number;
}

export const phaseNames = ['baseline', 'during', 'after'] as const;
export type PhaseName = (typeof phaseNames)[number];

export interface ScenarioContext {
  readonly env: ChaosEnvironment;
  readonly workload: ShopWorkload;
  readonly timings: Timings;
  /** Records a step of the run (shown in the report and printed live). */
  readonly step: (line: string) => void;
  /** Sleeps, or returns early when the run is interrupted. */
  readonly sleep: (ms: number) => Promise<void>;
  /** True once the run was interrupted (Ctrl-C): finish up, revert, report. */
  readonly interrupted: () => boolean;
}

/** What an injection did, and how to undo it. */
export interface Injection {
  readonly description: string;
  /** Undoes the fault; resolves with what it did. Always called, even when the run is interrupted. */
  revert(): Promise<string>;
}

/** A figure read from a collector, shown per phase: a counter's increase, or a gauge's value at the end of the phase. */
export interface FigureSpec {
  readonly label: string;
  readonly collector: MetricsCollector;
  readonly name: string;
  readonly kind?: 'counter' | 'gauge';
}

/** What checks read. */
export interface Results {
  readonly env: ChaosEnvironment;
  readonly load: LoadResult;
  /** Stats of one target in one phase (empty stats when it never ran). */
  stats(target: string, phase: PhaseName): TargetPhaseStats;
  /** A figure's value in a phase (see FigureSpec); undefined when its collector could not be read. */
  figure(label: string, phase: PhaseName): number | undefined;
}

/** One prepared run of a scenario; its functions close over what `prepare` set up. */
export interface ScenarioRun {
  readonly targets: readonly LoadTarget[];
  readonly figures: readonly FigureSpec[];
  inject(): Promise<Injection>;
  /** After the load: checks of the shop's state (orders settled, events delivered); returns observations. */
  verify?(load: LoadResult): Promise<string[]>;
  checks(results: Results): Check[];
  /** Undoes what `prepare` set up (e.g. a policy applied for the whole run). */
  cleanup?(): Promise<string | undefined>;
}

export interface Scenario {
  readonly id: string;
  readonly number: number;
  readonly title: string;
  /** The expectation the verdict is about, in one sentence. */
  readonly expectation: string;
  readonly defaults: Timings;
  /** Defaults that replace some of `defaults` in local mode (a laptop's processes, not a cluster). @default - none */
  readonly localDefaults?: Partial<Timings>;
  /** Defaults that replace some of `defaults` on the local mesh (every pod, proxy and the control plane on one 2-core machine). @default - none */
  readonly meshDefaults?: Partial<Timings>;
  /** Why the scenario cannot run in this environment; undefined when it can. */
  unsupported(env: ChaosEnvironment): string | undefined;
  /** What this environment can and cannot show for this scenario. */
  notes(env: ChaosEnvironment): string[];
  /** Users, targets, figures, and the functions of the run. */
  prepare(ctx: ScenarioContext): Promise<ScenarioRun>;
}
