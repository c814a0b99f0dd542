import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { versions } from '../../constructs/versions.js';
import { cachePath } from '../cache.js';
import { ComponentError } from '../component-error.js';
import { findJava, readStamp, requireTool, run } from '../tools.js';

const component = 'strimzi-crds';
const fix = 'install Maven (Debian: apt-get install maven) with access to Maven Central, then re-run';
/** io.strimzi:crd-generator 1.2.0 is compiled for Java 21 (class file version 65). */
const generatorJavaMajor = 21;
const javaFix =
  `install a Java ${generatorJavaMajor}+ runtime (Debian bookworm packages only 17): put it on PATH, point JAVA_HOME at it ` +
  'or unpack a JDK such as Eclipse Temurin under /usr/lib/jvm, then re-run';

/**
 * The `java` that runs Strimzi's CRD generator: the first of PATH, JAVA_HOME and
 * /usr/lib/jvm/* that is at least Java `minMajor`; a ComponentError naming this
 * component, every Java seen and the fix otherwise.
 */
export function generatorJava(minMajor = generatorJavaMajor): string {
  return findJava({ component, minMajor, purpose: `to run Strimzi's CRD generator (io.strimzi:crd-generator ${versions.strimzi})`, fix: javaFix });
}

/**
 * Custom resource classes of io.strimzi:api and the file names Strimzi's install
 * bundle (packaging/install/cluster-operator) gives their CRDs.
 */
const resources = [
  ['io.strimzi.api.kafka.model.kafka.Kafka', '040-Crd-kafka.yaml'],
  ['io.strimzi.api.kafka.model.connect.KafkaConnect', '041-Crd-kafkaconnect.yaml'],
  ['io.strimzi.api.kafka.model.podset.StrimziPodSet', '042-Crd-strimzipodset.yaml'],
  ['io.strimzi.api.kafka.model.topic.KafkaTopic', '043-Crd-kafkatopic.yaml'],
  ['io.strimzi.api.kafka.model.user.KafkaUser', '044-Crd-kafkauser.yaml'],
  ['io.strimzi.api.kafka.model.bridge.KafkaBridge', '046-Crd-kafkabridge.yaml'],
  ['io.strimzi.api.kafka.model.connector.KafkaConnector', '047-Crd-kafkaconnector.yaml'],
  ['io.strimzi.api.kafka.model.mirrormaker2.KafkaMirrorMaker2', '048-Crd-kafkamirrormaker2.yaml'],
  ['io.strimzi.api.kafka.model.rebalance.KafkaRebalance', '049-Crd-kafkarebalance.yaml'],
  ['io.strimzi.api.kafka.model.nodepool.KafkaNodePool', '04A-Crd-kafkanodepool.yaml'],
] as const;

/**
 * The options Strimzi's api/pom.xml passes to io.strimzi.crdgenerator.CrdGenerator
 * (exec-maven-plugin, phase process-classes), with the API versions of 1.x: every
 * resource class is annotated with v1 only, served and stored.
 */
const generatorOptions = [
  '--label',
  'app:strimzi',
  '--label',
  'strimzi.io/crd-install:true',
  '--target-kube',
  '1.16+',
  '--crd-api-version',
  'v1',
  '--api-versions',
  'v1',
  '--storage-version',
  'v1',
  '--yaml',
];

// Nothing is built: Maven only resolves the generator and the annotated model classes.
const pom = (version: string) => `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.meshkit.upstream</groupId>
  <artifactId>strimzi-crd-generator-classpath</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>${version}</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>${version}</version></dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
    </plugins>
  </build>
</project>
`;

/** What a generated CRD declares, as read back from its YAML. */
export interface CrdSummary {
  readonly file: string;
  readonly name: string;
  readonly group: string;
  readonly kind: string;
  readonly served: string[];
  readonly storage: string[];
}

interface CrdVersion {
  name?: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: { properties?: Record<string, unknown> } };
}
interface Crd {
  kind?: string;
  metadata?: { name?: string };
  spec?: { group?: string; names?: { kind?: string }; versions?: CrdVersion[] };
}

/**
 * Reads a generated CRD file back and checks what meshkit relies on: a Strimzi
 * API group (kafka.strimzi.io; StrimziPodSet lives in core.strimzi.io) and a
 * served v1 version with an openAPIV3Schema.
 */
export function summarizeCrd(file: string): CrdSummary {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => doc.toJS() as Crd);
  const crd = docs.find((doc) => doc?.kind === 'CustomResourceDefinition');
  const versionsOf = crd?.spec?.versions ?? [];
  const v1 = versionsOf.find((v) => v.name === 'v1');
  const problems = [
    crd ? undefined : 'no CustomResourceDefinition document',
    crd?.spec?.group?.endsWith('.strimzi.io') ? undefined : `group is '${crd?.spec?.group}', expected a *.strimzi.io group`,
    v1?.served ? undefined : 'version v1 is missing or not served',
    v1?.schema?.openAPIV3Schema?.properties ? undefined : 'version v1 has no openAPIV3Schema properties',
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new Error(`[${component}] ${file}: ${problems.join('; ')}`);
  return {
    file,
    name: crd?.metadata?.name ?? '',
    group: crd?.spec?.group ?? '',
    kind: crd?.spec?.names?.kind ?? '',
    served: versionsOf.filter((v) => v.served).map((v) => v.name ?? ''),
    storage: versionsOf.filter((v) => v.storage).map((v) => v.name ?? ''),
  };
}

/**
 * Strimzi's CustomResourceDefinitions at the pinned Strimzi version, produced the
 * way Strimzi's own build produces them: its CRD generator (io.strimzi:crd-generator)
 * run over its annotated model classes (io.strimzi:api), both from Maven Central.
 * Cached under .cache/crds/strimzi-<version>; returns the YAML paths in install order.
 */
export function ensureStrimziCrds(): string[] {
  const dir = cachePath('crds', `strimzi-${versions.strimzi}`);
  const targets = resources.map(([className, file]) => [className, join(dir, file)] as const);
  const paths = targets.map(([, path]) => path);
  const stampFile = join(dir, 'stamp');
  const stamp = `strimzi:${versions.strimzi} ${createHash('sha256')
    .update(JSON.stringify([generatorOptions, resources]))
    .digest('hex')}`;
  if (readStamp(stampFile) === stamp && paths.every((path) => existsSync(path))) return paths;

  const java = generatorJava();
  const mvn = requireTool({ component, command: 'mvn', aptPackages: ['maven'], fix });
  writeFileSync(join(dir, 'pom.xml'), pom(versions.strimzi));
  const classpathFile = join(dir, 'classpath.txt');
  run(mvn, ['-B', '-q', '-f', join(dir, 'pom.xml'), 'dependency:build-classpath', '-Dmdep.includeScope=runtime', `-Dmdep.outputFile=${classpathFile}`], {
    component,
    fix,
    cwd: dir,
    timeout: 15 * 60_000,
  });
  const classpath = readStamp(classpathFile);
  if (!classpath?.includes(`api-${versions.strimzi}.jar`)) {
    throw new ComponentError(component, `Maven wrote no classpath with io.strimzi:api ${versions.strimzi} to ${classpathFile}`, fix);
  }
  run(java, ['-cp', classpath, 'io.strimzi.crdgenerator.CrdGenerator', ...generatorOptions, ...targets.map(([className, path]) => `${className}=${path}`)], {
    component,
    fix: `the generator rejected its options; compare them with api/pom.xml of Strimzi ${versions.strimzi}`,
    cwd: dir,
    timeout: 5 * 60_000,
  });
  try {
    for (const path of paths) summarizeCrd(path);
  } catch (error) {
    const problem = error instanceof Error ? error.message : String(error);
    throw new ComponentError(component, problem, `the generator's output changed; compare the options above with api/pom.xml of Strimzi ${versions.strimzi}`);
  }
  writeFileSync(stampFile, `${stamp}\n`);
  return paths;
}

// `tsx infra/upstream/strimzi-crds.ts` prints what was generated.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const began = performance.now();
  for (const path of ensureStrimziCrds()) {
    const crd = summarizeCrd(path);
    console.log(`${crd.name}\tkind=${crd.kind}\tserved=${crd.served.join(',')}\tstorage=${crd.storage.join(',')}\t${path}`);
  }
  console.log(`done in ${Math.round(performance.now() - began)} ms`);
}
