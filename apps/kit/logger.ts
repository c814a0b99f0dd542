import { writeSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { currentContext } from './context.js';

export type { Logger } from 'pino';

/** Lines logged this many bytes ago or more are written at once rather than held to the window's end. */
const MAX_BATCH_BYTES = 64 * 1024;

/**
 * How long a line may wait for the lines after it. A server at a few hundred requests/s serves
 * about one request per event-loop turn, so writing once per turn was one write(2) per access-log
 * line, and that system call (with the wake-up of whoever reads the pipe: the container runtime
 * in a pod) cost the request path more than building the line: 35 of the kit's 70 µs over bare
 * Express on an in-memory read (bench/servers/profile-read.ts, 2026-12-02). 20 ms is not
 * noticeable to someone reading logs and gathers a few lines per write at a service's pace.
 */
export const LOG_FLUSH_INTERVAL_MS = 20;

/** Bytes kept while stdout refuses more (a full non-blocking pipe); beyond it they are dropped, counted in a notice. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * stdout for pino, written in batches: the lines logged within LOG_FLUSH_INTERVAL_MS go out in
 * one write. pino's default destination starts an asynchronous write, a thread-pool round trip,
 * for nearly every line at a server's pace, which cost the request path more than building the
 * line. At exit what is left is written synchronously (a SIGKILL loses at most the window's lines).
 * A full pipe (EAGAIN) keeps the lines and tries again shortly, rather than blocking the loop.
 */
export class BatchedStdout implements DestinationStream {
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
      // Unreferenced: pending lines must not keep a finished process alive; the exit hook writes them.
      setTimeout(this.flushWindow, LOG_FLUSH_INTERVAL_MS).unref();
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
          setTimeout(this.flushWindow, 5).unref();
        }
        return;
      }
      // Any other failure of stdout: these lines are lost; logging must not fail the caller.
      this.dropped += 1;
    }
  }

  private readonly flushWindow = (): void => {
    this.scheduled = false;
    this.flushSync();
  };
}

/** Every BatchedStdout, flushed by one exit hook (a process may build several loggers: tests, benchmarks). */
const open = new Set<WeakRef<BatchedStdout>>();

function flushAllAtExit(): void {
  for (const ref of open) ref.deref()?.flushSync();
}

/**
 * pino's isoTime, `,"time":"2026-12-03T06:08:51.123Z"`, with the part up to the second built
 * once a second: a Date and its toISOString on every line were a tenth of an access-log line's
 * cost (bench/servers/micro.ts). The text is the same as isoTime's.
 */
export function isoTimeField(): () => string {
  let second = -1;
  let prefix = '';
  return () => {
    const now = Date.now();
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      prefix = `,"time":"${new Date(s * 1000).toISOString().slice(0, 20)}`;
    }
    const ms = now - s * 1000;
    return `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
  };
}

const NOTHING_TO_ADD = Object.freeze({});

/**
 * JSON logs on stdout. Every line written while serving a request carries its
 * request id and trace id, taken from the async context rather than passed around.
 * A line that names both ids itself (the access log) is written as given: its own values win
 * the merge anyway, so merging would only copy the line.
 */
export function createLogger(service: string, level: LogLevel, destination: DestinationStream = new BatchedStdout()): Logger {
  return pino(
    {
      level,
      base: { service },
      messageKey: 'message',
      timestamp: isoTimeField(),
      formatters: { level: (label) => ({ level: label }) },
      mixin(line: object) {
        if ('requestId' in line && 'traceId' in line) return NOTHING_TO_ADD;
        const ctx = currentContext();
        return ctx ? { requestId: ctx.requestId, ...(ctx.traceId ? { traceId: ctx.traceId } : {}) } : NOTHING_TO_ADD;
      },
      mixinMergeStrategy: (line: object, context: object) => (context === NOTHING_TO_ADD ? line : Object.assign(context, line)),
    },
    destination,
  );
}
