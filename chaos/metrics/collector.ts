/**
 * Figures from outside the load generator (the services' /metrics, Envoy's stats,
 * Prometheus) are read through MetricsCollectors at each phase boundary. A reading is
 * kept per source (a pod, a process) so a counter that restarts from zero (the pod was
 * killed and came back) still gives an honest delta.
 */

/** Counters (monotonic) and gauges (current values) of one source at one moment. */
export interface Reading {
  readonly counters: Readonly<Record<string, number>>;
  readonly gauges: Readonly<Record<string, number>>;
}

/** Readings by source name ("order-7f9c-abc", "payment#1"). */
export type Snapshot = Readonly<Record<string, Reading>>;

export interface MetricsCollector {
  /** What it reads, for the report: "Envoy stats of order's sidecars → payment". */
  readonly name: string;
  /**
   * How far behind reality the source is. 0: read at the boundary itself. Above 0
   * (Prometheus scrapes every 15 s): the runner reads it after the run, for the boundary
   * times, once this much time has passed.
   */
  readonly lagMs: number;
  /** The counters as of `atMs` (epoch milliseconds); sources with lagMs 0 read "now". */
  snapshot(atMs: number): Promise<Snapshot>;
}

/**
 * How much each counter grew from `before` to `after`, summed over sources. A source whose
 * counter went down restarted: its delta is the new value. A source that appeared counts
 * from zero; one that disappeared contributes nothing (its last increments are lost, as
 * they are for Prometheus).
 */
export function counterDeltas(before: Snapshot, after: Snapshot): Record<string, number> {
  const deltas: Record<string, number> = {};
  for (const [source, reading] of Object.entries(after)) {
    const previous = before[source]?.counters ?? {};
    for (const [name, value] of Object.entries(reading.counters)) {
      const was = previous[name] ?? 0;
      deltas[name] = (deltas[name] ?? 0) + (value >= was ? value - was : value);
    }
  }
  return deltas;
}

/** Gauges summed over sources. */
export function gaugeTotals(snapshot: Snapshot): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const reading of Object.values(snapshot)) {
    for (const [name, value] of Object.entries(reading.gauges)) totals[name] = (totals[name] ?? 0) + value;
  }
  return totals;
}

/** A collector's readings at every phase boundary, or why it could not read. */
export interface CollectedSeries {
  readonly collector: string;
  readonly snapshots: readonly (Snapshot | undefined)[];
  readonly errors: readonly string[];
}

/** Counter deltas of phase i (between boundary i and i + 1); undefined when either reading failed. */
export function phaseDeltas(series: CollectedSeries, phase: number): Record<string, number> | undefined {
  const before = series.snapshots[phase];
  const after = series.snapshots[phase + 1];
  return before && after ? counterDeltas(before, after) : undefined;
}
