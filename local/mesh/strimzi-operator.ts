/**
 * What the Strimzi operator would make of the synthesized `Kafka`, `KafkaNodePool` and
 * `KafkaTopic` resources, reduced to one node: the `<cluster>-kafka-bootstrap` Service (the
 * address the shop's KAFKA_BROKERS names) and the headless `<cluster>-kafka-brokers`, one broker
 * Pod `<cluster>-<pool>-<n>` per node-pool replica running Apache Kafka in KRaft combined mode
 * from infra/kafka-broker.ts's jars (the Strimzi image is not available here), with the pool's
 * heap and the Kafka's `config`, and each KafkaTopic created with its partitions and config,
 * its status then Ready. The broker advertises its pod address (Strimzi advertises the pod's
 * DNS name; the address lets tools in the root namespace reach it too).
 */
import { Kafka, logLevel } from 'kafkajs';
import { provisionKafka } from '../../infra/kafka-broker.js';
import type { KubeClient, KubeObject } from '../../infra/kube-client.js';
import { nodeName } from './workload-controller.js';

interface KafkaSpec {
  kafka: { version?: string; listeners?: { name: string; port: number; tls?: boolean }[]; config?: Record<string, string | number | boolean> };
}

interface PoolSpec {
  replicas?: number;
  jvmOptions?: { '-Xmx'?: string; '-Xms'?: string };
}

interface TopicSpec {
  topicName?: string;
  partitions?: number;
  replicas?: number;
  config?: Record<string, string | number>;
}

const controllerPort = 9090;

function brokerScript(
  classpath: string,
  java: string,
  log4j: string,
  heap: { xmx: string; xms: string },
  port: number,
  config: Record<string, string>,
): string {
  const props = {
    'process.roles': 'broker,controller',
    'node.id': '0',
    'controller.quorum.voters': `0@$KAFKA_POD_IP:${controllerPort}`,
    listeners: `PLAIN://$KAFKA_POD_IP:${port},CONTROLLER://$KAFKA_POD_IP:${controllerPort}`,
    'advertised.listeners': `PLAIN://$KAFKA_POD_IP:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAIN',
    'listener.security.protocol.map': 'PLAIN:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': '$KAFKA_DATA/kafka-log0',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    ...config,
  };
  const jvm = `-Xms${heap.xms} -Xmx${heap.xmx} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:TieredStopAtLevel=1 -Djava.awt.headless=true -Dlog4j2.configurationFile=${log4j} -cp ${classpath}`;
  return [
    'set -eu',
    'cat > "$KAFKA_DATA/server.properties" <<EOF',
    ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
    'EOF',
    'if [ ! -f "$KAFKA_DATA/kafka-log0/meta.properties" ]; then',
    `  "${java}" ${jvm} kafka.tools.StorageTool format --config "$KAFKA_DATA/server.properties" --cluster-id "$KAFKA_CLUSTER_ID" >/dev/null`,
    'fi',
    `exec "${java}" ${jvm} kafka.Kafka "$KAFKA_DATA/server.properties"`,
  ].join('\n');
}

/** The Services and broker Pods for every Kafka in `objects` (with its node pools). */
export function strimziObjects(objects: readonly KubeObject[]): KubeObject[] {
  const installation = provisionKafka();
  const out: KubeObject[] = [];
  for (const kafka of objects.filter((o) => o.kind === 'Kafka' && o.apiVersion.startsWith('kafka.strimzi.io/'))) {
    const cluster = kafka.metadata.name;
    const namespace = kafka.metadata.namespace!;
    const spec = kafka.spec as KafkaSpec;
    const listener = spec.kafka.listeners?.find((l) => !l.tls) ?? { name: 'plain', port: 9092 };
    const labels = { 'strimzi.io/cluster': cluster, 'strimzi.io/kind': 'Kafka', 'strimzi.io/name': `${cluster}-kafka` };
    const selector = { 'strimzi.io/cluster': cluster, 'strimzi.io/kind': 'Kafka', 'strimzi.io/broker-role': 'true' };
    const port = { name: `tcp-${listener.name}`, port: listener.port, targetPort: listener.port, protocol: 'TCP' };
    out.push(
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `${cluster}-kafka-bootstrap`, namespace, labels },
        spec: { type: 'ClusterIP', selector, ports: [port] },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: `${cluster}-kafka-brokers`, namespace, labels },
        spec: {
          clusterIP: 'None',
          publishNotReadyAddresses: true,
          selector,
          ports: [port, { name: 'tcp-ctrlplane', port: controllerPort, targetPort: controllerPort, protocol: 'TCP' }],
        },
      },
    );
    const config = Object.fromEntries(Object.entries(spec.kafka.config ?? {}).map(([k, v]) => [k, String(v)]));
    const pools = objects.filter(
      (o) => o.kind === 'KafkaNodePool' && (o.metadata.labels as Record<string, string> | undefined)?.['strimzi.io/cluster'] === cluster,
    );
    for (const pool of pools) {
      const poolSpec = pool.spec as PoolSpec;
      const heap = { xmx: (poolSpec.jvmOptions?.['-Xmx'] ?? '512m').toLowerCase(), xms: (poolSpec.jvmOptions?.['-Xms'] ?? '256m').toLowerCase() };
      // One node: a second replica would need its own quorum voter; the shop's pool has one.
      const podName = `${cluster}-${pool.metadata.name}-0`;
      out.push({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: podName,
          namespace,
          labels: { ...labels, ...selector, 'strimzi.io/pool-name': pool.metadata.name, 'strimzi.io/controller-role': 'true', 'strimzi.io/pod-name': podName },
          annotations: { 'sidecar.istio.io/inject': 'false' },
          ownerReferences: [{ apiVersion: pool.apiVersion, kind: pool.kind, name: pool.metadata.name, uid: pool.metadata.uid, controller: true }],
        },
        spec: {
          nodeName,
          hostname: podName,
          subdomain: `${cluster}-kafka-brokers`,
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsUser: 0, runAsGroup: 0 },
          volumes: [{ name: 'data-0', persistentVolumeClaim: { claimName: `data-0-${podName}` } }],
          containers: [
            {
              name: 'kafka',
              image: `quay.io/strimzi/kafka:latest-kafka-${spec.kafka.version ?? installation.version}`,
              command: ['/bin/sh', '-c', brokerScript(installation.classpath, installation.java, installation.log4jConfig, heap, listener.port, config)],
              env: [
                { name: 'KAFKA_POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'KAFKA_DATA', value: '/var/lib/kafka/data-0' },
                { name: 'KAFKA_CLUSTER_ID', value: Buffer.from(`${namespace}/${cluster}`.padEnd(16, '.').slice(0, 16)).toString('base64url') },
              ],
              ports: [
                { name: `tcp-${listener.name}`, containerPort: listener.port },
                { name: 'tcp-ctrlplane', containerPort: controllerPort },
              ],
              readinessProbe: { tcpSocket: { port: listener.port }, periodSeconds: 2, failureThreshold: 3 },
              volumeMounts: [{ name: 'data-0', mountPath: '/var/lib/kafka/data-0' }],
            },
          ],
        },
      });
    }
  }
  return out;
}

/** Creates each KafkaTopic on the broker at `brokers` and marks it (and its Kafka) Ready. */
export async function reconcileTopics(kube: KubeClient, objects: readonly KubeObject[], brokers: readonly string[]): Promise<void> {
  const admin = new Kafka({ clientId: 'meshkit-strimzi', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 5 } }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const topics = objects.filter((o) => o.kind === 'KafkaTopic');
    const wanted = topics
      .map((t) => ({ object: t, spec: t.spec as TopicSpec }))
      .filter(({ object, spec }) => !existing.has(spec.topicName ?? object.metadata.name));
    if (wanted.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: wanted.map(({ object, spec }) => ({
          topic: spec.topicName ?? object.metadata.name,
          numPartitions: spec.partitions ?? 1,
          replicationFactor: spec.replicas ?? 1,
          configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value: String(value) })),
        })),
      });
    }
    const now = new Date().toISOString();
    const ready = { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] };
    for (const object of [...topics, ...objects.filter((o) => o.kind === 'Kafka' || o.kind === 'KafkaNodePool')]) {
      const m = await kube.mapping(object.apiVersion, object.kind);
      const extra = object.kind === 'KafkaTopic' ? { topicName: (object.spec as TopicSpec).topicName ?? object.metadata.name } : {};
      await kube
        .request('PATCH', `${m.groupVersionPath}/namespaces/${object.metadata.namespace}/${m.resource}/${object.metadata.name}/status`, {
          body: { status: { ...ready, ...extra, observedGeneration: 1 } },
          contentType: 'application/merge-patch+json',
        })
        .catch(() => undefined);
    }
  } finally {
    await admin.disconnect();
  }
}
