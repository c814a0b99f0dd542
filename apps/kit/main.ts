import { ConfigError } from './config.js';
import { startService, type ServiceDefinition } from './service.js';

/**
 * Process entry of a service: starts it from the environment and owns the
 * process lifecycle. SIGTERM (Kubernetes) or SIGINT (Ctrl-C) starts a graceful
 * stop (readiness fails, drain, close, disconnect, exit 0); a second signal or
 * a stop that overruns SHUTDOWN_TIMEOUT_MS exits at once with 1.
 */
export async function runMain<S>(definition: ServiceDefinition<S>): Promise<void> {
  let service;
  try {
    service = await startService(definition, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${definition.name}: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    process.stderr.write(`${definition.name}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
  const running = service;
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      running.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    running.logger.info({ signal }, 'signal received');
    const hardStop = setTimeout(
      () => {
        running.logger.error('graceful stop overran its budget: exiting');
        process.exit(1);
      },
      Number(process.env['SHUTDOWN_TIMEOUT_MS'] ?? 15_000) + Number(process.env['SHUTDOWN_DELAY_MS'] ?? 3000) + 2000,
    );
    hardStop.unref();
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        running.logger.error({ err }, 'graceful stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', (reason) => {
    running.logger.error({ err: reason }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    running.logger.fatal({ err }, 'uncaught exception: exiting');
    process.exit(1);
  });
}
