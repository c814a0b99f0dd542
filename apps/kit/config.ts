import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envNames } from '../../contract/env.js';

/** Thrown at start-up when the environment cannot run the service; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads typed values from the environment and collects problems instead of
 * throwing on the first, so one failed start shows everything that is wrong.
 */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  /** A non-empty string, or `fallback` when unset (required when no fallback is given). */
  string(name: string, fallback?: string): string {
    const raw = this.raw(name);
    if (raw !== undefined) return raw;
    if (fallback === undefined) {
      this.problems.push(`${name} is required`);
      return '';
    }
    return fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  /** An integer within [min, max]. */
  int(name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      this.problems.push(`${name} ('${raw}') must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  /** An absolute http(s) URL without a trailing slash. */
  httpUrl(name: string): string {
    const raw = this.string(name);
    if (raw === '') return raw;
    try {
      const url = new URL(raw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
      return raw.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name} ('${raw}') must be an http(s) URL such as http://user.shop.svc.cluster.local:8080`);
      return raw;
    }
  }

  /** A comma-separated list; empty when unset. */
  list(name: string): string[] {
    return (this.raw(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} ('${raw}') must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return raw as T;
  }

  /** Records a problem found by a cross-field rule. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError naming every problem found so far. */
  throwIfInvalid(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }

  private raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }
}

export interface KafkaConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly produceTopics: readonly string[];
  readonly consumeTopics: readonly string[];
  readonly groupId: string;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** What every service reads from the environment the platform gives its pod (constructs/meshed-service.ts). */
export interface BaseConfig {
  readonly serviceName: string;
  /** Public API port (the Kubernetes Service's `http` port). */
  readonly port: number;
  /** Health, metrics and chaos; a container port only, never in a Service. */
  readonly adminPort: number;
  /**
   * Address both servers bind to: every interface in a pod (the sidecar forwards to the pod IP),
   * loopback for local runs (HOST=127.0.0.1), so a laptop's shop is not reachable from its network.
   */
  readonly host: string;
  /** PostgreSQL URL; when unset the service runs on an embedded PGlite. */
  readonly databaseUrl: string | undefined;
  /** PGlite data directory (`memory://` keeps it in memory); used only without DATABASE_URL. */
  readonly pgliteDataDir: string;
  /** Kafka settings; undefined when KAFKA_BROKERS is unset (events then wait in the outbox). */
  readonly kafka: KafkaConfig | undefined;
  readonly logLevel: LogLevel;
  /** Client timeout of calls to other services; the mesh's own timeouts and retries sit below it. */
  readonly httpClientTimeoutMs: number;
  /** Time between failing readiness on SIGTERM and closing the listener, so endpoints can update. */
  readonly shutdownDelayMs: number;
  /** Upper bound for draining in-flight work before the process exits anyway. */
  readonly shutdownTimeoutMs: number;
}

export function readBaseConfig(service: string, reader: EnvReader): BaseConfig {
  const serviceName = reader.string(envNames.serviceName, service);
  if (serviceName !== service)
    reader.problem(`${envNames.serviceName} ('${serviceName}') does not match this bundle ('${service}'): the image and the Deployment disagree`);
  const port = reader.int(envNames.port, 8080, { min: 0, max: 65535 });
  const adminPort = reader.int(envNames.adminPort, 9090, { min: 0, max: 65535 });
  if (port !== 0 && port === adminPort) reader.problem(`ADMIN_PORT (${adminPort}) equals PORT: health and chaos must stay off the public port`);
  const databaseUrl = reader.optionalString(envNames.databaseUrl);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    reader.problem(`DATABASE_URL must start with postgres:// or postgresql:// (got '${databaseUrl.replace(/\/\/[^@]*@/, '//***@')}')`);
  }
  const brokers = reader.list(envNames.kafkaBrokers);
  const kafka: KafkaConfig | undefined =
    brokers.length === 0
      ? undefined
      : {
          brokers,
          clientId: reader.string(envNames.kafkaClientId, service),
          produceTopics: reader.list(envNames.kafkaProduceTopics),
          consumeTopics: reader.list(envNames.kafkaConsumeTopics),
          groupId: reader.string(envNames.kafkaGroupId, service),
        };
  return {
    serviceName,
    port,
    adminPort,
    host: reader.string(envNames.host, '0.0.0.0'),
    databaseUrl,
    pgliteDataDir: reader.string('PGLITE_DATA_DIR', join(tmpdir(), `meshkit-${service}`)),
    kafka,
    logLevel: reader.oneOf<LogLevel>('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    httpClientTimeoutMs: reader.int(envNames.httpClientTimeoutMs, 2000, { min: 50, max: 60_000 }),
    shutdownDelayMs: reader.int('SHUTDOWN_DELAY_MS', 3000, { min: 0, max: 60_000 }),
    shutdownTimeoutMs: reader.int('SHUTDOWN_TIMEOUT_MS', 15_000, { min: 100, max: 120_000 }),
  };
}
