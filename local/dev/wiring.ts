/**
 * Wiring of the local shop: the environment the charts give each pod (charts/pod-env.ts,
 * constructs/meshed-service.ts), derived by the same function, and the Kafka topics
 * the Strimzi KafkaTopics of charts/kafka-chart.ts would create.
 */
import { Kafka, logLevel } from 'kafkajs';
import { podEnv } from '../../charts/pod-env.js';
import { services, topics, type ServiceName } from '../../charts/platform.js';
import { envNames } from '../../contract/index.js';

/** Every service of the platform model, in the model's order. */
export const SERVICE_NAMES: readonly ServiceName[] = services.map((s) => s.name);

export interface PlatformAddresses {
  /** Public base URL of each service (where the chart puts `http://<name>.shop.svc.cluster.local:8080`). */
  readonly urls: Readonly<Record<ServiceName, string>>;
  /** Kafka bootstrap addresses; none leaves every KAFKA_* variable unset. */
  readonly kafkaBrokers?: readonly string[];
}

/**
 * The platform's own wiring of `service`: SERVICE_NAME (which the chart's MeshedService sets) and
 * exactly what the charts give its pod (charts/pod-env.ts). Ports and the database are the
 * launcher's business, not part of this.
 */
export function platformEnv(service: ServiceName, at: PlatformAddresses): Record<string, string> {
  const kafkaBrokers = at.kafkaBrokers && at.kafkaBrokers.length > 0 ? at.kafkaBrokers.join(',') : undefined;
  return { [envNames.serviceName]: service, ...Object.fromEntries(podEnv(service, { urlOf: (to) => at.urls[to], kafkaBrokers })) };
}

/** What a service process gets from ours: enough to run Node, nothing that could configure the service by accident. */
export function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Creates the model's topics with their partition counts where missing, as the Strimzi KafkaTopics would. */
export async function ensureTopics(brokers: readonly string[]): Promise<void> {
  const admin = new Kafka({
    clientId: 'meshkit-local-shop',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 3 },
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Kafka at ${brokers.join(',')} did not answer within 30 s`)), 30_000);
  });
  try {
    await Promise.race([
      (async () => {
        await admin.connect();
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.name));
        if (missing.length > 0) {
          await admin.createTopics({ waitForLeaders: true, topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions })) });
        }
      })(),
      timeout,
    ]);
  } catch (err) {
    throw new Error(`cannot create the platform's topics on Kafka at ${brokers.join(',')}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}
