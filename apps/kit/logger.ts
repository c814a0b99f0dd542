import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { currentContext } from './context.js';

export type { Logger } from 'pino';

/** A turn that logs more than this writes it at once rather than holding it to the turn's end. */
const MAX_BATCH_BYTES = 64 * 1024;

/** Bytes kept while stdout refuses more (a full non-blocking pipe); beyond it they are dropped, counted in a notice. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * stdout for pino, written once per turn of the event loop: the lines logged during one turn (a
 * request's, and under load those of many requests) go out in one write when the turn ends.
 * pino's default destination starts an asynchronous write, a thread-pool round trip, for nearly
 * every line at a server's pace, which cost the request path more than building the line. No
 * line waits past the turn it was logged in; at exit what is left is written synchronously.
 * A full pipe (EAGAIN) keeps the lines and tries again shortly, rather than blocking the loop.
 */
export class TurnBatchedStdout implements DestinationStream {
  private pending: string[] = [];
  private pendingBytes = 0;
  private dropped = 0;
  private scheduled = false;
  private closed = false;
  /** The last write met a full pipe (EAGAIN): wait for the retry instead of writing on every line. */
  private blocked = false;

  constructor(private readonly fd = 1) {
    if (open.size === 0) process.once('exit', flushAllAtExit);
    open.add(new WeakRef(this));
  }

  write(line: string): boolean {
    if (this.closed) return true;
    if (this.pendingBytes > MAX_PENDING_BYTES) {
      // stdout has refused writes for a while: drop what waits rather than grow without bound.
      this.dropped += this.pending.length;
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= MAX_BATCH_BYTES && !this.blocked) {
      this.flushSync();
      return true;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushTurn);
    }
    return true;
  }

  /** Writes what is pending now (pino's logger.flush() calls it). */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  flushSync(): void {
    if (this.closed || this.pending.length === 0) return;
    if (this.dropped > 0) {
      this.pending.unshift(
        `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), message: `${this.dropped} log lines dropped: stdout did not keep up` })}\n`,
      );
      this.dropped = 0;
    }
    let data = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
    this.blocked = false;
    try {
      while (data.length > 0) data = data.subarray(writeSync(this.fd, data));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') {
        // Nobody reads stdout any more: stop logging rather than fail.
        this.closed = true;
        return;
      }
      if (code === 'EAGAIN' && data.length > 0) {
        const rest = data.toString();
        this.pending = [rest];
        this.pendingBytes = rest.length;
        this.blocked = true;
        if (!this.scheduled) {
          this.scheduled = true;
          setTimeout(this.flushTurn, 5).unref();
        }
        return;
      }
      // Any other failure of stdout: these lines are lost; logging must not fail the caller.
      this.dropped += 1;
    }
  }

  private readonly flushTurn = (): void => {
    this.scheduled = false;
    this.flushSync();
  };
}

/** Every TurnBatchedStdout, flushed by one exit hook (a process may build several loggers: tests, benchmarks). */
const open = new Set<WeakRef<TurnBatchedStdout>>();

function flushAllAtExit(): void {
  for (const ref of open) ref.deref()?.flushSync();
}

/**
 * JSON logs on stdout. Every line written while serving a request carries its
 * request id and trace id, taken from the async context rather than passed around.
 */
export function createLogger(service: string, level: LogLevel, destination: DestinationStream = new TurnBatchedStdout()): Logger {
  return pino(
    {
      level,
      base: { service },
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const ctx = currentContext();
        return ctx ? { requestId: ctx.requestId, ...(ctx.traceId ? { traceId: ctx.traceId } : {}) } : {};
      },
    },
    destination,
  );
}
