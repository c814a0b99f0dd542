/**
 * Kafka for `make dev`: the whole shop by default. KAFKA_BROKERS names a Kafka of the user's own;
 * without it, and with a Java 17+ on the machine, a real single-node broker of the run's own is
 * started (infra/kafka-broker.ts: Apache Kafka jars from Maven Central, KRaft, loopback); without
 * Java the shop runs without Kafka and says why notifications wait.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { versions } from '../../constructs/versions.js';
import type { KafkaBroker } from '../../infra/kafka-broker.js';
import { findJava } from '../../infra/tools.js';

export interface DevKafka {
  /** Bootstrap addresses; empty when the shop runs without Kafka. */
  readonly brokers: readonly string[];
  /** One line for the banner: where Kafka is, or why there is none. */
  readonly description: string;
  /** Why there is no Kafka (undefined when there is): what `make smoke` and the banner say. */
  readonly missing: string | undefined;
  /** Stops a broker of the run's own (its log copied to `<runDir>/kafka.log`); nothing otherwise. */
  stop(runDir: string | undefined): Promise<void>;
}

export interface DevKafkaDeps {
  /** The Java that would run the broker; throws when there is none. @default - infra/tools.ts findJava (PATH, JAVA_HOME, /usr/lib/jvm), never installs one */
  readonly findJava?: () => string;
  /** @default - infra/kafka-broker.ts startKafkaBroker */
  readonly startBroker?: () => Promise<Pick<KafkaBroker, 'brokers' | 'dataDir' | 'stop'>>;
}

export const waitingNotifications = 'events wait in the order outbox and notifications do not arrive until the shop runs with Kafka';

function none(why: string): DevKafka {
  return { brokers: [], description: `off — ${why}: ${waitingNotifications}`, missing: why, stop: async () => undefined };
}

/** Decides and provides Kafka for a `make dev` run from `KAFKA_BROKERS` and the machine. */
export async function devKafka(env: NodeJS.ProcessEnv, deps: DevKafkaDeps = {}): Promise<DevKafka> {
  const given = (env['KAFKA_BROKERS'] ?? '').trim();
  if (given === 'off') return none('KAFKA_BROKERS=off');
  if (given !== '') {
    const brokers = given
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b.length > 0);
    return { brokers, description: `${brokers.join(',')} (KAFKA_BROKERS)`, missing: undefined, stop: async () => undefined };
  }
  let java: string;
  try {
    java = (
      deps.findJava ??
      (() => findJava({ component: 'kafka', minMajor: 17, purpose: 'to run the Kafka broker of `make dev`', fix: 'install a Java 17+ runtime' }))
    )();
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.replace(/^\[kafka\] /, '');
    return none(`${first}; install a Java 17+ runtime (or set KAFKA_BROKERS to a Kafka of your own)`);
  }
  try {
    const start = deps.startBroker ?? (async () => (await import('../../infra/kafka-broker.js')).startKafkaBroker());
    const broker = await start();
    return {
      brokers: broker.brokers,
      description: `${broker.brokers.join(',')} (a broker of this run: Apache Kafka ${versions.kafka} on ${java})`,
      missing: undefined,
      stop: async (runDir) => {
        await broker.stop();
        if (runDir) await copyFile(join(broker.dataDir, 'broker.log'), join(runDir, 'kafka.log')).catch(() => undefined);
      },
    };
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
    return none(`the Kafka broker did not start (${first})`);
  }
}
