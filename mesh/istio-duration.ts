import type { Duration } from 'cdk8s';

/**
 * Renders a Duration the way every Istio duration field accepts it: seconds with
 * up to millisecond precision ("0.25s", "2s"). That form parses as a protobuf JSON
 * Duration, as a Go duration and in the CRDs' CEL `duration()` rules alike.
 */
export function istioDuration(duration: Duration): string {
  const ms = Math.round(duration.toMilliseconds());
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3).replace(/0+$/, '')}s`;
}

/** Short human form for messages: "250ms", "2s", "1.5s". */
export function describeDuration(duration: Duration): string {
  const ms = Math.round(duration.toMilliseconds());
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}
