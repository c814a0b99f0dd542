import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../cli/cluster-api.js';
import { main, usage, type MainDeps } from '../../cli/main.js';
import { services } from '../../charts/platform.js';
import { synthPlatform } from '../support/platform.js';
import { halfDoneWorld, keptSecrets, kindKubeconfig, makeWorld, type World } from './support/world.js';

function deps(w: World, interrupted: Promise<void> = new Promise(() => undefined)): MainDeps {
  return { ctx: w.ctx, inputs: async () => ({ objects: () => [], secrets: () => [] }), interrupted: () => interrupted };
}

const service = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'istio-system' } });

describe('the CLI entry point', () => {
  it('prints usage for help and refuses unknown commands and options with exit code 2', async () => {
    const w = makeWorld();
    expect(await main(['help'], deps(w))).toBe(0);
    expect(w.output).toEqual([usage]);
    expect(await main(['deploy'], deps(w))).toBe(2);
    expect(w.output.at(-1)).toMatch(/^unknown command 'deploy'/);
    expect(await main(['down', '--force'], deps(w))).toBe(2);
    expect(w.output.at(-1)).toMatch(/^unknown option\(s\) for down: --force/);
    expect(w.recorder.calls).toEqual([]);
  });

  it('make down deletes the kind cluster, and does nothing when there is none', async () => {
    const w = makeWorld();
    let exists = true;
    w.recorder.on('kind get clusters', () => ({ stdout: exists ? 'meshkit\n' : '' })).on('kind delete cluster --name meshkit', {}, () => (exists = false));
    expect(await main(['down'], deps(w))).toBe(0);
    expect(await main(['down'], deps(w))).toBe(0);
    expect(w.recorder.calls).toEqual(['kind get clusters', 'kind delete cluster --name meshkit', 'kind get clusters']);
    expect(w.output.at(-1)).toBe('no kind cluster meshkit: nothing to delete');
  });

  it('make status without a cluster says so, lists what `make up` would do, runs nothing else and exits 1', async () => {
    const w = makeWorld();
    w.recorder.on('kind get clusters', { stdout: '' });
    expect(await main(['status'], deps(w))).toBe(1);
    expect(w.output.slice(0, 3)).toEqual([
      'meshkit status: kind cluster "meshkit"',
      '  pending  cluster      not created: `make up` creates it',
      '`make up` would do, in order:',
    ]);
    expect(w.output.slice(3).map((l) => l.replace(/^ +\d+\. /, ''))).toEqual([
      'preflight: tools, versions, memory, ports',
      expect.stringMatching(/^kind cluster "meshkit" \(kindest\/node:v1\.34/),
      'namespaces',
      'database Secrets (random passwords, created only when missing)',
      'service images (docker build, kind load)',
      expect.stringMatching(/^Istio 1\.30\.\d+ /),
      'Prometheus, Grafana, Kiali (Istio samples/addons)',
      expect.stringMatching(/^Strimzi /),
      'Kafka cluster and topics (Strimzi, KRaft)',
      'shop manifests (dist/, server-side apply in dependency order)',
      'databases ready (StatefulSets)',
      'services ready (Deployments)',
      "gateway accepts the user service's tokens (istiod has fetched its JWKS)",
    ]);
    expect(w.recorder.calls).toEqual(['kind get clusters']);
  });

  it('make status changes nothing: its Makefile target depends on no synth (which rewrites imports/ and dist/)', () => {
    const makefile = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'Makefile'), 'utf8');
    const prerequisites = /^status:([^#\n]*)/m.exec(makefile)![1]!.trim().split(/\s+/);
    expect(prerequisites).toEqual(['install']);
  });

  it('make status lists every step as done or pending with what it found, and exits 1 while something is pending', async () => {
    const { objects, platform } = synthPlatform();
    const w = halfDoneWorld(objects as KubeObject[]);
    const code = await main(['status'], {
      ...deps(w),
      inputs: async () => ({ objects: () => objects as KubeObject[], secrets: () => platform.requiredSecrets }),
    });
    expect(code).toBe(1);
    const shop = objects.filter((o) => o.kind !== 'Namespace' && !o.apiVersion.startsWith('kafka.strimzi.io/')).length;
    // One database, database Secret and Deployment per service of the model; the half-done world holds some Secrets.
    const names = services.map((s) => s.name);
    const missing = names.filter((n) => !keptSecrets.includes(n)).map((n) => `shop/${n}-db-credentials`);
    expect(w.output).toEqual([
      'meshkit status: kind cluster "meshkit"',
      '  done     cluster      cluster meshkit exists',
      '  done     namespaces   all 2 objects exist',
      `  pending  secrets      ${missing.length} of ${names.length} Secrets missing: ${missing.join(', ')}`,
      '  done     istio        Istio 1.30.8 ready, ingress gateway on NodePort 30080/30443',
      '  done     addons       prometheus, grafana, kiali ready',
      '  done     strimzi      strimzi-kafka-operator-1.2.0 deployed, operator ready, CRDs Established',
      '  done     kafka        4 Kafka resources ready',
      `  pending  shop         ${shop} of ${shop} objects missing`,
      `  pending  databases    ${names.length} of ${names.length} databases not ready: ${names.map((n) => `${n}-db (does not exist)`).join(', ')}`,
      `  pending  services     ${names.length} of ${names.length} services not ready: ${names.map((n) => `${n} (does not exist)`).join(', ')}`,
      '4 pending: `make up` converges them',
    ]);
    // Looking changes nothing.
    expect(w.cluster.applied).toEqual([]);
    expect(w.cluster.createdSecrets).toEqual([]);
  });

  it('make apply refuses to run without a cluster and points to make up', async () => {
    const w = makeWorld();
    w.recorder.on('kind get clusters', { stdout: '' });
    expect(await main(['apply'], deps(w))).toBe(1);
    expect(w.output).toContain('    the kind cluster meshkit does not exist: `make up` creates it');
    expect(w.recorder.calls).toEqual(['kind get clusters']);
  });

  it('make dashboards port-forwards Kiali, Grafana and Prometheus until Ctrl-C, then stops all three', async () => {
    const w = makeWorld();
    w.recorder.on('kind get clusters', { stdout: 'meshkit\n' }).on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() });
    for (const name of ['prometheus', 'grafana', 'kiali']) w.cluster.put(service(name));
    let stop: () => void = () => undefined;
    const interrupted = new Promise<void>((resolve) => (stop = resolve));
    const running = main(['dashboards'], deps(w, interrupted));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const kc = `${w.dirs.work}/kubeconfig`;
    expect(w.recorder.started.map((s) => s.line)).toEqual([
      `kubectl --kubeconfig ${kc} port-forward --namespace istio-system service/prometheus 9090:9090`,
      `kubectl --kubeconfig ${kc} port-forward --namespace istio-system service/grafana 3000:3000`,
      `kubectl --kubeconfig ${kc} port-forward --namespace istio-system service/kiali 20001:20001`,
    ]);
    expect(w.output).toEqual([
      '  prometheus  http://localhost:9090',
      '  grafana     http://localhost:3000',
      '  kiali       http://localhost:20001/kiali',
      'port-forwarding; Ctrl-C stops',
    ]);
    stop();
    expect(await running).toBe(0);
    expect(w.recorder.started.every((s) => s.stopped)).toBe(true);
    expect(w.cluster.closed).toBe(true);
  });

  it('make dashboards stops the others and exits 1 when one port-forward dies', async () => {
    const w = makeWorld();
    w.recorder.on('kind get clusters', { stdout: 'meshkit\n' }).on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() });
    for (const name of ['prometheus', 'grafana', 'kiali']) w.cluster.put(service(name));
    const running = main(['dashboards'], deps(w));
    await new Promise((resolve) => setTimeout(resolve, 20));
    w.recorder.started[1]!.finish({
      code: 1,
      stderr:
        'Unable to listen on port 3000: Listeners failed to create with the following errors: [unable to create listener: Error listen tcp4 127.0.0.1:3000: bind: address already in use]',
    });
    expect(await running).toBe(1);
    expect(w.recorder.started.filter((s) => s.stopped)).toHaveLength(3);
    expect(w.output.slice(-2)).toEqual([
      'the grafana port-forward exited (code 1): Unable to listen on port 3000: Listeners failed to create with the following errors: [unable to create listener: Error listen tcp4 127.0.0.1:3000: bind: address already in use]',
      'hint: another program uses that local port; stop it and re-run `make dashboards`',
    ]);
  });

  it('make dashboards refuses when the add-ons are not installed', async () => {
    const w = makeWorld();
    w.recorder.on('kind get clusters', { stdout: 'meshkit\n' }).on('kind get kubeconfig --name meshkit', { stdout: kindKubeconfig() });
    w.cluster.put(service('prometheus'));
    expect(await main(['dashboards'], deps(w))).toBe(1);
    expect(w.output).toEqual(['missing Service(s) grafana, kiali in istio-system: `make up` installs the add-ons (step addons)']);
    expect(w.recorder.started).toEqual([]);
  });
});
