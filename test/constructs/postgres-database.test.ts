import { Chart, Size, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { MeshedService } from '../../constructs/meshed-service.js';
import { Callers } from '../../mesh/callers.js';
import { PostgresDatabase } from '../../constructs/postgres-database.js';
import { Route } from '../../mesh/route.js';
import { find, synth } from '../support/manifests.js';

function shop() {
  const app = Testing.app();
  const chart = new Chart(app, 'shop', { namespace: 'shop' });
  const order = new MeshedService(chart, 'order', { image: 'meshkit/order:dev', callers: Callers.none(), routes: [Route.read('/orders')] });
  const product = new MeshedService(chart, 'product', { image: 'meshkit/product:dev', callers: Callers.none(), routes: [Route.read('/products')] });
  const db = new PostgresDatabase(chart, 'order-db', { owner: order });
  return { chart, order, product, db };
}

describe('PostgresDatabase', () => {
  it('renders a one-replica StatefulSet with a volume claim and a headless Service', () => {
    const manifests = synth(shop().chart);
    const sts = find(manifests, 'StatefulSet', 'order-db');
    expect(sts.spec).toMatchObject({ serviceName: 'order-db', replicas: 1, selector: { matchLabels: { app: 'order-db' } } });
    expect(sts.spec.volumeClaimTemplates[0].spec).toMatchObject({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '512Mi' } } });
    expect(find(manifests, 'Service', 'order-db').spec).toMatchObject({ clusterIP: 'None', ports: [{ name: 'tcp-postgres', port: 5432 }] });
  });

  it('takes the password from a Secret that no synthesized file contains', () => {
    const manifests = synth(shop().chart);
    const env = find(manifests, 'StatefulSet', 'order-db').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'order-db-credentials', key: 'password' } } });
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
  });

  it('wires the connection into the owning service only', () => {
    const manifests = synth(shop().chart);
    const envOf = (name: string) => find(manifests, 'Deployment', name).spec.template.spec.containers[0].env as { name: string }[];
    expect(envOf('order')).toContainEqual({
      name: 'DATABASE_URL',
      value: 'postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@order-db.shop.svc.cluster.local:5432/order',
    });
    const names = envOf('order').map((e) => e.name);
    expect(names.indexOf('DATABASE_PASSWORD')).toBeLessThan(names.indexOf('DATABASE_URL'));
    expect(envOf('product').map((e) => e.name)).not.toContain('DATABASE_URL');
  });

  it('lists the Secrets that must be created at deploy time', () => {
    const { chart } = shop();
    expect(PostgresDatabase.requiredSecrets(chart)).toMatchObject([{ name: 'order-db-credentials', namespace: 'shop', keys: ['password'] }]);
  });

  it('runs PostgreSQL as its non-root user with a read-only root filesystem', () => {
    const pod = find(synth(shop().chart), 'StatefulSet', 'order-db').spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 70, fsGroup: 70 });
    expect(pod.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  it('names everything after its construct id, not after its owner', () => {
    const { chart, order } = shop();
    const store = new PostgresDatabase(chart, 'order-archive', { owner: order });
    expect(store).toMatchObject({ name: 'order-archive', host: 'order-archive.shop.svc.cluster.local', databaseName: 'order', user: 'order', port: 5432 });
    const manifests = synth(chart);
    for (const kind of ['StatefulSet', 'Service', 'ServiceAccount', 'AuthorizationPolicy', 'NetworkPolicy'])
      expect(find(manifests, kind, 'order-archive').kind).toBe(kind);
    expect(PostgresDatabase.requiredSecrets(chart).map((s) => s.name)).toEqual(['order-db-credentials', 'order-archive-credentials']);
  });

  it('rejects an id that cannot be a Service name, suggesting one', () => {
    const { chart, order } = shop();
    expect(() => new PostgresDatabase(chart, 'Database', { owner: order })).toThrow(
      "id 'Database' is used as the StatefulSet and Service name and must be a DNS label (lower case, digits, '-'): rename it, e.g. 'order-db'",
    );
  });

  it('rejects a volume too small for PostgreSQL', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'shop', { namespace: 'shop' });
    const order = new MeshedService(chart, 'order', { image: 'meshkit/order:dev', callers: Callers.none(), routes: [Route.read('/orders')] });
    expect(() => new PostgresDatabase(chart, 'db', { owner: order, storage: Size.mebibytes(16) })).toThrow(
      "'storage' (16Mi) is too small for PostgreSQL: use at least 64Mi",
    );
  });
});
