import type { TestProject } from 'vitest/node';
import { ensureEnvoy } from '../../infra/envoy.js';
import { ensureIstio } from '../../infra/istio.js';
import { startKafkaBroker } from '../../infra/kafka-broker.js';
import { startKubeApiserver } from '../../infra/kube-apiserver.js';
import { startPostgres } from '../../infra/postgres.js';

/**
 * Starts the real test infrastructure once for the integration project, in
 * parallel, and hands connection details to the test files through `inject`.
 * Any component that cannot be provisioned fails the run with its ComponentError:
 * there is no skip path.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Istio's binaries (a cold build is the longest step of CI) and Envoy are provisioned here,
  // beside the servers, so the mesh tests find them cached; a failure fails the run like the rest.
  const mesh = Promise.allSettled([ensureIstio(), ensureEnvoy()]);
  const started = await Promise.allSettled([startKubeApiserver(), startKafkaBroker(), startPostgres()]);
  const failures = [...started, ...(await mesh)].filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  const running = started.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  const stopAll = async () => {
    await Promise.allSettled(running.map((component) => component.stop()));
  };
  if (failures.length > 0) {
    await stopAll();
    throw new Error(failures.map((f) => String(f.reason instanceof Error ? f.reason.message : f.reason)).join('\n\n'));
  }
  const [kube, kafka, postgres] = started.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [
    Awaited<ReturnType<typeof startKubeApiserver>>,
    Awaited<ReturnType<typeof startKafkaBroker>>,
    Awaited<ReturnType<typeof startPostgres>>,
  ];
  project.provide('kube', kube.connection);
  project.provide('kafka', { brokers: kafka.brokers });
  project.provide('postgres', { url: postgres.url });
  return stopAll;
}
