import { App, type AppProps } from 'cdk8s';
import { PostgresDatabase, type ExternalSecretRef } from '../constructs/postgres-database.js';
import { KafkaChart } from './kafka-chart.js';
import { NamespacesChart } from './namespaces-chart.js';
import { ShopChart } from './shop-chart.js';

export interface Platform {
  readonly app: App;
  readonly namespaces: NamespacesChart;
  readonly kafka: KafkaChart;
  readonly shop: ShopChart;
  /** Secrets the manifests reference but never contain; the bring-up creates them. */
  readonly requiredSecrets: ExternalSecretRef[];
}

/**
 * Composes the whole platform in one cdk8s App. Charts depend on the namespaces
 * chart, so `cdk8s synth` writes the namespaces first.
 */
export function buildPlatform(props: AppProps = {}): Platform {
  const app = new App(props);
  const namespaces = new NamespacesChart(app, 'namespaces');
  const kafka = new KafkaChart(app, 'kafka');
  const shop = new ShopChart(app, 'shop', {
    kafka: kafka.cluster,
    imageTag: process.env.MESHKIT_IMAGE_TAG,
  });
  kafka.addDependency(namespaces);
  shop.addDependency(namespaces, kafka);
  return { app, namespaces, kafka, shop, requiredSecrets: PostgresDatabase.requiredSecrets(app) };
}
