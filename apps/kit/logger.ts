import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { currentContext } from './context.js';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout. Every line written while serving a request carries its
 * request id and trace id, taken from the async context rather than passed around.
 */
export function createLogger(service: string, level: LogLevel): Logger {
  return pino({
    level,
    base: { service },
    messageKey: 'message',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const ctx = currentContext();
      return ctx ? { requestId: ctx.requestId, ...(ctx.traceId ? { traceId: ctx.traceId } : {}) } : {};
    },
  });
}
