import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../infra/kube-client.js';
import { hostsFile, resolvConf } from '../../local/mesh/cluster-dns.js';
import { endpointSliceFor } from '../../local/mesh/endpoints-controller.js';
import { containerEnv, expand, type EnvSources } from '../../local/mesh/pod-env.js';
import { serviceRules } from '../../local/mesh/service-proxy.js';

const secret = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'shop' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

const sources = (objects: KubeObject[], services: KubeObject[] = []): EnvSources => ({
  secret: async (_ns, name) => objects.find((o) => o.kind === 'Secret' && o.metadata.name === name),
  configMap: async () => undefined,
  services: async () => services,
});

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'order-abc-x1', namespace: 'shop', labels: { app: 'order' } },
  spec: { nodeName: 'meshkit-local', serviceAccountName: 'order', enableServiceLinks: false, containers: [] },
  status: { podIP: '10.244.0.7' },
};

describe('pod env as the kubelet builds it', () => {
  it('expands $(VAR) from earlier variables, keeps unknown references and unescapes $$', () => {
    expect(expand('postgres://$(U):$(P)@db/$(MISSING) $$(U)', { U: 'order', P: 'pw' })).toBe('postgres://order:pw@db/$(MISSING) $(U)');
  });

  it('resolves secretKeyRef and fieldRef, then expands DATABASE_URL from them', async () => {
    const env = await containerEnv(
      pod,
      {
        name: 'order',
        image: 'meshkit/order:dev',
        env: [
          { name: 'DATABASE_USER', value: 'order' },
          { name: 'DATABASE_PASSWORD', valueFrom: { secretKeyRef: { name: 'order-db-credentials', key: 'password' } } },
          { name: 'DATABASE_URL', value: 'postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@order-db.shop.svc.cluster.local:5432/order' },
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        ],
      },
      sources([secret('order-db-credentials', { password: 's3cret' })]),
    );
    expect(env).toEqual({
      DATABASE_USER: 'order',
      DATABASE_PASSWORD: 's3cret',
      DATABASE_URL: 'postgres://order:s3cret@order-db.shop.svc.cluster.local:5432/order',
      POD_IP: '10.244.0.7',
      APP: 'order',
    });
  });

  it('fails naming the variable and the Secret when a required key is missing', async () => {
    await expect(
      containerEnv(
        pod,
        { name: 'order', image: 'x', env: [{ name: 'DATABASE_PASSWORD', valueFrom: { secretKeyRef: { name: 'order-db-credentials', key: 'password' } } }] },
        sources([]),
      ),
    ).rejects.toThrow('DATABASE_PASSWORD: Secret shop/order-db-credentials not found');
  });

  it('adds service links for ClusterIP Services unless enableServiceLinks is false', async () => {
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'user-db', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.9', ports: [{ name: 'tcp-postgres', port: 5432 }] },
    };
    const withLinks = { ...pod, spec: { ...(pod.spec as object), enableServiceLinks: true } };
    const env = await containerEnv(withLinks, { name: 'x', image: 'x' }, sources([], [service]));
    expect(env).toMatchObject({ USER_DB_SERVICE_HOST: '10.96.0.9', USER_DB_SERVICE_PORT_TCP_POSTGRES: '5432', USER_DB_PORT_5432_TCP_ADDR: '10.96.0.9' });
    expect(await containerEnv(pod, { name: 'x', image: 'x' }, sources([], [service]))).toEqual({});
  });
});

describe('cluster DNS and kube-proxy rules for a pod', () => {
  it('writes fully qualified and search-path names, short names only for its own namespace', () => {
    const hosts = hostsFile({ name: 'order-abc-x1', namespace: 'shop', ip: '10.244.0.7' }, [
      { name: 'user', namespace: 'shop', ips: ['10.96.0.5'] },
      { name: 'meshkit-kafka-bootstrap', namespace: 'kafka', ips: ['10.96.0.6'] },
    ]);
    expect(hosts).toContain('10.96.0.5\tuser.shop.svc.cluster.local user.shop.svc user.shop user\n');
    expect(hosts).toContain('10.96.0.6\tmeshkit-kafka-bootstrap.kafka.svc.cluster.local meshkit-kafka-bootstrap.kafka.svc meshkit-kafka-bootstrap.kafka\n');
    expect(resolvConf('shop')).toContain('search shop.svc.cluster.local svc.cluster.local cluster.local');
  });

  it('spreads a ClusterIP port over its endpoints with equal probability and resets connections to one without endpoints', () => {
    const rules = serviceRules([
      { clusterIp: '10.96.0.5', port: 8080, protocol: 'TCP', endpoints: ['10.244.0.2:8080', '10.244.0.3:8080'] },
      { clusterIp: '10.96.0.6', port: 80, protocol: 'TCP', endpoints: [] },
    ]);
    expect(rules).toContain(
      '-A MK-SERVICES -d 10.96.0.5/32 -p tcp -m tcp --dport 8080 -m statistic --mode random --probability 0.50000 -j DNAT --to-destination 10.244.0.2:8080',
    );
    expect(rules).toContain('-A MK-SERVICES -d 10.96.0.5/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.244.0.3:8080');
    expect(rules).toContain('-A MK-SERVICES-REJECT -d 10.96.0.6/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset');
  });

  it('lists selected pods in the EndpointSlice with readiness, targetRef and the named port resolved', () => {
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'echo', namespace: 'ns', uid: 'u1' },
      spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    };
    const member = (name: string, ready: boolean): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'ns', uid: name, labels: { app: 'echo' } },
      spec: { nodeName: 'n', containers: [{ ports: [{ name: 'http', containerPort: 8080 }] }] },
      status: { podIP: `10.0.0.${name.length}`, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const slice = endpointSliceFor(service, [member('a', true), member('bb', false)]);
    expect(slice).toMatchObject({
      metadata: { labels: { 'kubernetes.io/service-name': 'echo' } },
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [
        { addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'a' } },
        { addresses: ['10.0.0.2'], conditions: { ready: false } },
      ],
    });
  });
});
