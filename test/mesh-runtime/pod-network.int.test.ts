import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KubeClient } from '../../infra/kube-client.js';
import { startMeshShop, type MeshShop } from '../../local/mesh/mesh-shop.js';
import { networkLeftovers } from '../../local/mesh/pod-network.js';
import { twoAppManifests } from './fixtures.js';

const namespace = `mesh-net-${randomBytes(3).toString('hex')}`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('pod network of the mesh runtime', () => {
  let shop: MeshShop;
  let started = 0;

  beforeAll(async () => {
    const began = Date.now();
    shop = await startMeshShop({ kube: inject('kube'), manifests: twoAppManifests(namespace), mesh: false, readyTimeoutMs: 60_000 });
    started = Date.now() - began;
  }, 120_000);

  afterAll(async () => {
    await shop?.stop();
  });

  it('runs each replica as a Pod in its own network namespace with a pod address, Ready in the apiserver', async () => {
    expect(shop.podsOf('echo')).toHaveLength(2);
    expect(shop.podsOf('client')).toHaveLength(1);
    const pods = await shop.kube.list('v1', 'Pod', { namespace });
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      const local = shop.pod(pod.metadata.name);
      expect(pod.status).toMatchObject({ phase: 'Running', podIP: local.ip });
      expect(local.netns).toBe(`${shop.network.prefix}-${pod.metadata.name}`);
      expect(local.ip.startsWith(shop.network.cidr.split('.').slice(0, 3).join('.'))).toBe(true);
    }
    console.error(`started in ${started} ms\n${shop.describe()}`);
  });

  it('gives each container the env of its spec, fieldRefs and $(VAR) expansion included', async () => {
    const [echo] = shop.podsOf('echo');
    expect(echo!.containers[0]!.env).toMatchObject({ PORT: '8080', WHO: echo!.name, GREETING: `hello from ${echo!.name}`, HOSTNAME: echo!.name });
  });

  it('writes an EndpointSlice with both echo pods Ready and the named target port resolved', async () => {
    const [slice] = await shop.kube.list('discovery.k8s.io/v1', 'EndpointSlice', { namespace, labelSelector: 'kubernetes.io/service-name=echo' });
    const endpoints = (slice as unknown as { endpoints: { addresses: string[]; conditions: { ready: boolean } }[] }).endpoints;
    expect(endpoints.map((e) => e.addresses[0]).sort()).toEqual(
      shop
        .podsOf('echo')
        .map((p) => p.ip)
        .sort(),
    );
    expect(endpoints.every((e) => e.conditions.ready)).toBe(true);
    expect(slice).toMatchObject({ ports: [{ name: 'http', port: 8080 }] });
  });

  it('lets one pod reach the other by Service name (short and fully qualified) and by ClusterIP, spread over both replicas', async () => {
    const client = shop.podsOf('client')[0]!;
    const clusterIp = await shop.clusterIp('echo', namespace);
    const echoes = new Set(shop.podsOf('echo').map((p) => p.name));
    const seen = new Set<string>();
    for (const url of ['http://echo/', `http://echo.${namespace}.svc.cluster.local/`, `http://${clusterIp}/`]) {
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`http://${client.ip}:8080/fetch?url=${encodeURIComponent(url)}`);
        const text = await res.text();
        expect(res.status, `${url}: ${text}`).toBe(200);
        const pod = text.split(' ')[0]!;
        expect(echoes.has(pod)).toBe(true);
        seen.add(pod);
      }
    }
    expect(seen.size).toBe(2);
  });

  it('replaces a deleted pod with a new one in a new namespace, and the Service follows', async () => {
    const victim = shop.podsOf('echo')[0]!;
    await shop.kube.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${victim.name}`, {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 },
    });
    await shop.kube.waitFor(
      'a replacement echo pod Ready',
      async () => shop.podsOf('echo').length === 2 && shop.podsOf('echo').every((p) => p.ready && p.name !== victim.name),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(alive(victim.containers[0]!.process?.pid ?? 0)).toBe(false);
    expect(existsSync(`/run/netns/${victim.netns}`)).toBe(false);
    await shop.waitReady(30_000);
    const client = shop.podsOf('client')[0]!;
    const res = await fetch(`http://${client.ip}:8080/fetch?url=${encodeURIComponent('http://echo/')}`);
    expect(res.status).toBe(200);
  });

  it('stop() leaves no process, namespace, veth, bridge, /etc/netns file or mount behind', async () => {
    const pids = shop.pods().flatMap((p) => p.containers.map((c) => c.process?.pid ?? 0));
    const prefix = shop.network.prefix;
    await shop.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(await networkLeftovers(prefix)).toEqual({ netns: [], links: [], etcNetns: [], mounts: [] });
    const kube = new KubeClient(inject('kube'));
    expect(await kube.list('v1', 'Pod', { namespace })).toEqual([]);
    expect(await kube.list('discovery.k8s.io/v1', 'EndpointSlice', { namespace })).toEqual([]);
    kube.close();
  });
});
