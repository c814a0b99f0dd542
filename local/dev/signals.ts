/**
 * How `make dev` learns that it should stop: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal
 * closed) sent to the launcher itself, and the same signals sent to `make` alone.
 *
 * GNU make passes SIGTERM on to its child, but on SIGINT or SIGHUP sent to make alone (not to
 * the terminal's process group) it only waits for its child, which never hears of it. While make
 * waits inside its signal handler the signal is blocked in make: on Linux that shows in
 * /proc/<make>/status (SigBlk), which the launcher polls. A parent that is gone (the launcher
 * was re-parented) counts as SIGHUP.
 */
import { readFileSync } from 'node:fs';

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';
export type SignalSource = 'self' | 'parent';

const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** Bit (signal number - 1) of each stop signal in /proc's signal masks. */
const MASK_BIT: Record<StopSignal, bigint> = { SIGHUP: 1n << 0n, SIGINT: 1n << 1n, SIGTERM: 1n << 14n };

function blockedMask(pid: number): bigint | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('SigBlk:'));
    return line ? BigInt(`0x${line.slice('SigBlk:'.length).trim()}`) : undefined;
  } catch {
    return undefined;
  }
}

function commandName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Calls `handler` for every stop signal the launcher receives, and, when its parent is GNU
 * make, for a stop signal make received alone (polled every `pollMs`). Returns a function that
 * removes the listeners.
 */
export function onStopSignals(handler: (signal: StopSignal, source: SignalSource) => void, pollMs = 250): () => void {
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => handler(signal, 'self');
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  const parent = process.ppid;
  const isMake = /^g?make$/.test(commandName(parent) ?? '');
  const before = isMake ? (blockedMask(parent) ?? 0n) : 0n;
  let reported = false;
  const timer = setInterval(() => {
    if (reported) return;
    if (process.ppid !== parent) {
      reported = true;
      return handler('SIGHUP', 'parent');
    }
    if (!isMake) return;
    const mask = blockedMask(parent);
    if (mask === undefined) return;
    const signal = STOP_SIGNALS.find((s) => (mask & MASK_BIT[s]) !== 0n && (before & MASK_BIT[s]) === 0n);
    if (signal) {
      reported = true;
      handler(signal, 'parent');
    }
  }, pollMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
