import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { versions } from '../constructs/versions.js';
import { cachePath, repoRoot } from './cache.js';
import { ComponentError } from './component-error.js';
import { createRunDir, freePorts, spawnManaged, type ManagedProcess } from './processes.js';
import { findJava, readStamp, requireTool, run, runAsync } from './tools.js';

const component = 'kafka';
const javaFix = 'install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless) and re-run';
const mvnFix = 'install Maven (Debian: apt-get install maven) with access to Maven Central, then re-run';
const pomDir = join(repoRoot, 'infra', 'kafka');

/** What `provisionKafka` found or resolved: everything needed to launch a broker. */
export interface KafkaInstallation {
  /** Kafka version of the jars on `classpath` (constructs/versions.ts). */
  readonly version: string;
  /** Absolute path of the `java` executable. */
  readonly java: string;
  /** Runtime classpath of org.apache.kafka:kafka_<scala> plus an SLF4J binding, from ~/.m2. */
  readonly classpath: string;
  /** log4j2 configuration handed to the broker JVM. */
  readonly log4jConfig: string;
}

/**
 * Finds Java 17+ (PATH, JAVA_HOME, /usr/lib/jvm, then apt) and resolves the broker classpath from
 * Maven Central with infra/kafka/pom.xml. The classpath is cached under
 * .cache/kafka with a stamp of the version and the pom, so a warm call costs no
 * Maven run; jars live in ~/.m2 like any Maven artifact.
 */
export function provisionKafka(): KafkaInstallation {
  const java = findJava({ component, minMajor: 17, purpose: `to run Kafka ${versions.kafka} brokers`, aptPackages: ['openjdk-17-jre-headless'], fix: javaFix });
  const pom = join(pomDir, 'pom.xml');
  const log4jConfig = join(pomDir, 'log4j2.properties');
  const dir = cachePath('kafka');
  const classpathFile = join(dir, `classpath-${versions.kafkaScala}-${versions.kafka}.txt`);
  const stampFile = `${classpathFile}.stamp`;
  const stamp = `kafka_${versions.kafkaScala}:${versions.kafka} pom:${createHash('sha256').update(readFileSync(pom)).digest('hex')}`;
  const cached = readStamp(stampFile) === stamp ? readStamp(classpathFile) : undefined;
  if (cached && cached.split(':').every((jar) => existsSync(jar))) {
    return { version: versions.kafka, java, classpath: cached, log4jConfig };
  }
  const mvn = requireTool({ component, command: 'mvn', aptPackages: ['maven'], fix: mvnFix });
  run(
    mvn,
    [
      '-B',
      '-q',
      '-f',
      pom,
      `-Dkafka.version=${versions.kafka}`,
      `-Dscala.binary=${versions.kafkaScala}`,
      'dependency:build-classpath',
      '-Dmdep.includeScope=runtime',
      `-Dmdep.outputFile=${classpathFile}`,
    ],
    { component, fix: mvnFix, cwd: dir, timeout: 15 * 60_000 },
  );
  const classpath = readStamp(classpathFile);
  if (!classpath || !classpath.includes(`kafka_${versions.kafkaScala}-${versions.kafka}.jar`)) {
    throw new ComponentError(component, `Maven produced no classpath with kafka_${versions.kafkaScala}-${versions.kafka}.jar`, mvnFix);
  }
  writeFileSync(stampFile, `${stamp}\n`);
  return { version: versions.kafka, java, classpath, log4jConfig };
}

export interface KafkaBrokerOptions {
  /** Loopback port of the PLAINTEXT listener clients connect to. @default - a free port */
  readonly port?: number;
  /** Loopback port of the KRaft controller listener. @default - a free port */
  readonly controllerPort?: number;
  /** How long to wait for the broker to answer a describeCluster. @default 120000 */
  readonly readyTimeoutMs?: number;
  /** server.properties entries that override the single-node test defaults. @default - none */
  readonly serverProperties?: Readonly<Record<string, string>>;
}

export interface KafkaBroker {
  /** Bootstrap addresses (`127.0.0.1:port`), stable across stop/start. */
  readonly brokers: string[];
  /** Directory holding server.properties, the KRaft log dirs and broker.log; removed when the process exits. */
  readonly dataDir: string;
  /** Milliseconds from spawning the JVM to the broker answering describeCluster, for the latest start. */
  readonly startupMs: number;
  /** Starts the broker again after `stop()` (same ports, same data). No-op while running. */
  start(): Promise<void>;
  /** Stops the broker (SIGTERM, then SIGKILL after 30 s); the data directory is kept for `start()`. */
  stop(): Promise<void>;
  /** `stop()` then `start()`: for fault tests that take the broker away mid-run. */
  restart(): Promise<void>;
}

function randomClusterId(): string {
  // Kafka cluster ids are 16 random bytes, base64url without padding; a leading '-' reads as a CLI flag.
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Starts a real single-node Kafka broker (KRaft combined mode: broker and
 * controller in one JVM, node id 1) on loopback ports, in a throwaway data
 * directory under .cache/kafka/run. Resolves once a kafkajs admin client can
 * describe the cluster.
 */
export async function startKafkaBroker(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const installation = provisionKafka();
  const [freeListener, freeController] = (await freePorts(2)) as [number, number];
  const port = options.port ?? freeListener;
  const controllerPort = options.controllerPort ?? freeController;
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  // Removed when the process exits, not by stop(): restart() needs the data.
  const dataDir = createRunDir(cachePath('kafka', 'run'), 'broker-');
  const logFile = join(dataDir, 'broker.log');
  const propertiesFile = join(dataDir, 'server.properties');
  const brokers = [`127.0.0.1:${port}`];

  const properties: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(dataDir, 'kraft-logs'),
    // One node: every internal topic must fit on it.
    'offsets.topic.replication.factor': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'default.replication.factor': '1',
    'min.insync.replicas': '1',
    // Fewer internal partitions make the first consumer group and transaction start in well under a second.
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.num.partitions': '1',
    'num.partitions': '1',
    'group.initial.rebalance.delay.ms': '0',
    'auto.create.topics.enable': 'true',
    ...options.serverProperties,
  };
  writeFileSync(
    propertiesFile,
    `${Object.entries(properties)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );

  const jvmArgs = [
    '-Xms256m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:+ExitOnOutOfMemoryError',
    // C1 only: start-to-ready drops from ~4.2 s to ~2.6 s on 2 cores; peak throughput does not matter in tests.
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${installation.log4jConfig}`,
    '-cp',
    installation.classpath,
  ];

  // Formatting writes meta.properties with the cluster id; a restart reuses the formatted directory.
  // Async: the global setup starts kube-apiserver and PostgreSQL meanwhile.
  await runAsync(installation.java, [...jvmArgs, 'kafka.tools.StorageTool', 'format', '--config', propertiesFile, '--cluster-id', randomClusterId()], {
    component,
    label: 'kafka.tools.StorageTool format',
    fix: `check ${propertiesFile}`,
    timeout: 120_000,
  });

  let broker: ManagedProcess | undefined;
  let startupMs = Number.NaN;

  const isReady = async (): Promise<boolean> => {
    const admin = new Kafka({
      clientId: 'meshkit-harness',
      brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      requestTimeout: 3_000,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      return cluster.brokers.length > 0 && cluster.controller !== null;
    } catch {
      return false;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };

  const stop = async (): Promise<void> => {
    await broker?.stop();
    broker = undefined;
  };

  const start = async (): Promise<void> => {
    if (broker && broker.exited === undefined) return;
    const began = performance.now();
    broker = await spawnManaged(installation.java, [...jvmArgs, 'kafka.Kafka', propertiesFile], {
      name: component,
      logFile,
      fix: javaFix,
      graceMs: 30_000,
    });
    try {
      await broker.waitUntil(`ready on ${brokers[0]} (describeCluster)`, isReady, {
        timeoutMs: readyTimeoutMs,
        fix: `read the log above; remove ${dataDir} if it is corrupt; on a loaded machine raise readyTimeoutMs`,
      });
    } catch (error) {
      await stop();
      throw error;
    }
    startupMs = Math.round(performance.now() - began);
  };

  await start();

  return {
    brokers,
    dataDir,
    get startupMs() {
      return startupMs;
    },
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
