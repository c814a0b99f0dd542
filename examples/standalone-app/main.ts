/**
 * A cdk8s app of your own that uses meshkit as a library: one meshed service
 * with a custom resilience policy and a database, callable by the mesh workloads
 * of the `storefront` namespace. It imports only the public entry point
 * ('meshkit'); run it with `npx tsx examples/standalone-app/main.ts`.
 * The README's example is this file; the package test synthesizes it in fresh
 * projects that install the packed library.
 */
import { App, Chart, Duration } from 'cdk8s';
import { Callers, MeshedService, PostgresDatabase, Retry, Route } from 'meshkit';

const app = new App({ outdir: process.env.CDK8S_OUTDIR ?? 'dist/standalone-app' });
const chart = new Chart(app, 'inventory', { namespace: 'warehouse' });

const inventory = new MeshedService(chart, 'inventory', {
  image: 'example/inventory:1.0',
  replicas: 3,
  routes: [
    Route.read('/items'),
    Route.read('/items/{sku}', { timeout: Duration.seconds(1), retry: Retry.onGatewayErrors({ attempts: 2, perTryTimeout: Duration.millis(300) }) }),
    Route.idempotentWrite('PUT', '/items/{sku}'),
    Route.write('POST', '/items/{sku}/adjustments'),
  ],
  resilience: {
    outlierDetection: { consecutive5xxErrors: 5 },
    connectionPool: { maxPendingRequests: 16 },
  },
  // Who may call it is a choice: here every mesh workload of the storefront namespace.
  // Or grant callers one by one with inventory.allowFrom(caller, routes); with neither, synth fails.
  callers: Callers.namespaces('storefront'),
});
new PostgresDatabase(chart, 'inventory-db', { owner: inventory });

app.synth();
