/**
 * Events with Strimzi: a one-node KRaft KafkaCluster in its own namespace (no sidecars),
 * two topics (KafkaCluster.addTopic creates EventTopics), and a MeshedService that only
 * consumes them: nobody calls it (`Callers.none()`), and `kafka.allowFrom(mailer)` lets it
 * out to the brokers (an egress rule in its NetworkPolicy).
 * Run it with `npx tsx examples/kafka/main.ts` (writes dist/kafka/).
 */
import { App, Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Callers, KafkaCluster, MeshedService, Route } from 'meshkit';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'dist/kafka' });
const kafkaChart = new Chart(app, 'kafka', { namespace: 'events' });
const kafka = new KafkaCluster(kafkaChart, 'events');
kafka.addTopic('orders.placed', { partitions: 3 });
kafka.addTopic('orders.shipped', { partitions: 3, retentionHours: 72 });

const appChart = new Chart(app, 'mailer', { namespace: 'mailer' });
const mailer = new MeshedService(appChart, 'mailer', {
  image: 'example/mailer:1.0',
  routes: [Route.read('/status')],
  callers: Callers.none(), // a consumer: takes no requests
});
mailer.addEnv('KAFKA_BROKERS', kplus.EnvValue.fromValue(kafka.bootstrapServers));
kafka.allowFrom(mailer); // egress from the mailer's pods to the brokers' plain listener

app.synth();
