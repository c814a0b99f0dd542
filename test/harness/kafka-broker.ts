import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { versions } from '../../constructs/versions.js';
import { cachePath, repoRoot } from './cache.js';
import { ComponentError } from './component-error.js';
import { readStamp, requireTool, run } from './tools.js';

const component = 'kafka';
const javaFix = 'install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless) and re-run';
const mvnFix = 'install Maven (Debian: apt-get install maven) with access to Maven Central, then re-run';
const pomDir = join(repoRoot, 'test', 'harness', 'kafka');

/** What `provisionKafka` found or resolved: everything needed to launch a broker. */
export interface KafkaInstallation {
  /** Kafka version of the jars on `classpath` (constructs/versions.ts). */
  readonly version: string;
  /** Absolute path of the `java` executable. */
  readonly java: string;
  /** Java major version of `java` (Kafka 4 brokers need 17 or newer). */
  readonly javaMajor: number;
  /** Runtime classpath of org.apache.kafka:kafka_<scala> plus an SLF4J binding, from ~/.m2. */
  readonly classpath: string;
  /** log4j2 configuration handed to the broker JVM. */
  readonly log4jConfig: string;
}

function javaMajorVersion(java: string): number {
  const out = spawnSync(java, ['-version'], { encoding: 'utf8' });
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${out.stderr}${out.stdout}`);
  if (!match) throw new ComponentError(component, `cannot tell the version of ${java}:\n${out.stderr}`, javaFix);
  const major = Number(match[1]);
  // Java 8 and older report "1.8.0_x".
  return major === 1 ? Number(match[2]) : major;
}

/**
 * Finds Java (PATH first, apt fallback) and resolves the broker classpath from
 * Maven Central with test/harness/kafka/pom.xml. The classpath is cached under
 * .cache/kafka with a stamp of the version and the pom, so a warm call costs no
 * Maven run; jars live in ~/.m2 like any Maven artifact.
 */
export function provisionKafka(): KafkaInstallation {
  const java = requireTool({ component, command: 'java', aptPackages: ['openjdk-17-jre-headless'], fix: javaFix });
  const javaMajor = javaMajorVersion(java);
  if (javaMajor < 17) {
    throw new ComponentError(component, `${java} is Java ${javaMajor}; Kafka ${versions.kafka} brokers need Java 17+`, javaFix);
  }
  const pom = join(pomDir, 'pom.xml');
  const log4jConfig = join(pomDir, 'log4j2.properties');
  const dir = cachePath('kafka');
  const classpathFile = join(dir, `classpath-${versions.kafkaScala}-${versions.kafka}.txt`);
  const stampFile = `${classpathFile}.stamp`;
  const stamp = `kafka_${versions.kafkaScala}:${versions.kafka} pom:${createHash('sha256').update(readFileSync(pom)).digest('hex')}`;
  const cached = readStamp(stampFile) === stamp ? readStamp(classpathFile) : undefined;
  if (cached && cached.split(':').every((jar) => existsSync(jar))) {
    return { version: versions.kafka, java, javaMajor, classpath: cached, log4jConfig };
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
  return { version: versions.kafka, java, javaMajor, classpath, log4jConfig };
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function lastLines(file: string, count = 40): string {
  if (!existsSync(file)) return '(no log written)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count).join('\n');
}

// Everything this process started, killed synchronously on exit so no JVM outlives the test run.
const live = new Set<ChildProcess>();
const dataDirs = new Set<string>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A detached shell that outlives us only to kill `pid` once we are gone (SIGKILL
 * of the test runner skips 'exit' handlers). It ignores the terminal's signals so
 * Ctrl-C cannot leave the broker orphaned, and ends by itself when the broker does.
 */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone: it noticed its process end first
  }
}

function watchdog(pid: number): ChildProcess {
  const script =
    `trap '' INT TERM HUP; while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; ` +
    `if kill -0 ${pid} 2>/dev/null; then kill -TERM ${pid}; i=0; ` +
    `while kill -0 ${pid} 2>/dev/null && [ $i -lt 20 ]; do sleep 1; i=$((i+1)); done; kill -KILL ${pid} 2>/dev/null; fi`;
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

/** Removes data directories left behind by test runs that died without cleaning up. */
function sweepStaleDataDirs(root: string): void {
  for (const name of readdirSync(root)) {
    const pid = Number(/^broker-(\d+)-/.exec(name)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }
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
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const runRoot = cachePath('kafka', 'run');
  sweepStaleDataDirs(runRoot);
  const dataDir = join(runRoot, `broker-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dataDir, { recursive: true });
  dataDirs.add(dataDir);
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
  const fail = (problem: string, fix: string): ComponentError =>
    new ComponentError(component, `${problem}\n  last lines of ${logFile}:\n${lastLines(logFile)}`, fix);

  // Formatting writes meta.properties with the cluster id; a restart reuses the formatted directory.
  // Async, unlike tools.run: the global setup starts kube-apiserver and PostgreSQL meanwhile.
  const format = [...jvmArgs, 'kafka.tools.StorageTool', 'format', '--config', propertiesFile, '--cluster-id', randomClusterId()];
  await promisify(execFile)(installation.java, format, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }).catch((error: unknown) => {
    const { stdout = '', stderr = '', code, signal } = error as { stdout?: string; stderr?: string; code?: number | string; signal?: string };
    const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-25).join('\n');
    throw new ComponentError(component, `kafka.tools.StorageTool format failed (${signal ?? `exit code ${code}`}):\n${output}`, `check ${propertiesFile}`);
  });

  let child: ChildProcess | undefined;
  let guard: ChildProcess | undefined;
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

  const start = async (): Promise<void> => {
    if (child) return;
    const began = performance.now();
    const log = openSync(logFile, 'a');
    const proc = spawn(installation.java, [...jvmArgs, 'kafka.Kafka', propertiesFile], { stdio: ['ignore', log, log] });
    closeSync(log);
    // Unref'd: a run that forgets stop() still exits, and the exit hook kills the broker.
    proc.unref();
    child = proc;
    live.add(proc);
    let exited: string | undefined;
    proc.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
      live.delete(proc);
      if (child === proc) child = undefined;
    });
    if (proc.pid === undefined) {
      await new Promise((resolve) => proc.once('error', resolve));
      throw fail(`could not spawn ${installation.java}`, javaFix);
    }
    guard = watchdog(proc.pid);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exited) throw fail(`broker ${exited} before it became ready`, `read the log above; remove ${dataDir} if it is corrupt`);
      if (await isReady()) break;
      if (Date.now() > deadline) {
        await stop();
        throw fail(`broker on ${brokers[0]} not ready after ${readyTimeoutMs} ms`, 'read the log above; on a loaded machine raise readyTimeoutMs');
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    startupMs = Math.round(performance.now() - began);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    const gone = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await gone;
    clearTimeout(timer);
    // The watchdog leads its own process group: kill its `sleep` too.
    if (guard?.pid) killGroup(guard.pid);
    guard = undefined;
  };

  try {
    await start();
  } catch (error) {
    await stop();
    throw error;
  }

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
