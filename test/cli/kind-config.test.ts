import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { versions } from '../../constructs/versions.js';
import { settings } from '../../cli/context.js';
import { istioOperator } from '../../cli/istio.js';
import { cachePath, repoRoot } from '../../infra/cache.js';
import { requireTool, run } from '../../infra/tools.js';

/**
 * kind v0.30.0's own decoder and v1alpha4 types (test/cli/kind-config-check), built once from
 * the Go module proxy into the cache so that a cold module download's chatter on stderr never
 * mixes with what the decoder says.
 */
let checker: string | undefined;
function kindDecode(file: string): { status: number | null; stdout: string; stderr: string } {
  if (!checker) {
    const go = requireTool({ component: 'kind-config-check', command: 'go', fix: 'install Go 1.24 or newer (only the Go module proxy is needed)' });
    const binary = join(cachePath('bin'), 'kind-config-check');
    run(go, ['build', '-mod=readonly', '-o', binary, '.'], {
      cwd: join(repoRoot, 'test', 'cli', 'kind-config-check'),
      component: 'kind-config-check',
      fix: 'check that the Go module proxy is reachable (GOPROXY) and test/cli/kind-config-check/go.sum is intact',
    });
    checker = binary;
  }
  const result = spawnSync(checker, [file], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempConfig(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kind-config-')), 'kind-config.yaml');
  writeFileSync(file, text);
  return file;
}

interface KindCluster {
  name: string;
  nodes: { role: string; image: string; extraPortMappings: { containerPort: number; hostPort: number; listenAddress: string; protocol: string }[] }[];
}

describe('kind-config.yaml', () => {
  it('decodes with kind v0.30 strict field checking into one control-plane node on the pinned image', { timeout: 180_000 }, () => {
    const result = kindDecode(join(repoRoot, 'kind-config.yaml'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const cluster = JSON.parse(result.stdout) as KindCluster;
    expect(cluster.name).toBe(settings.clusterName);
    expect(cluster.nodes.map((n) => [n.role, n.image])).toEqual([['control-plane', versions.kindNodeImage]]);
  });

  it('maps exactly the ingress gateway NodePorts to localhost:8080 and :8443, as the IstioOperator and the smoke URL expect', { timeout: 180_000 }, () => {
    const cluster = JSON.parse(kindDecode(join(repoRoot, 'kind-config.yaml')).stdout) as KindCluster;
    const gateway = (istioOperator().spec as { components: { ingressGateways: { k8s: { service: { ports: { nodePort?: number; port: number }[] } } }[] } })
      .components.ingressGateways[0]!;
    const nodePorts = gateway.k8s.service.ports.filter((p) => p.nodePort !== undefined);
    expect(cluster.nodes[0]!.extraPortMappings).toEqual([
      { containerPort: settings.ingressNodePorts.http, hostPort: 8080, listenAddress: '127.0.0.1', protocol: 'TCP' },
      { containerPort: settings.ingressNodePorts.https, hostPort: 8443, listenAddress: '127.0.0.1', protocol: 'TCP' },
    ]);
    expect(nodePorts.map((p) => [p.port, p.nodePort])).toEqual([
      [80, settings.ingressNodePorts.http],
      [443, settings.ingressNodePorts.https],
    ]);
    expect(new URL(settings.ingressUrl).port).toBe('8080');
  });

  it('is checked for real: a misspelled field and a wrong type are refused, as kind would', { timeout: 180_000 }, () => {
    const misspelled = kindDecode(tempConfig('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n    extraPortMapping: []\n'));
    expect(misspelled.status).toBe(1);
    expect(misspelled.stderr).toContain('field extraPortMapping not found in type v1alpha4.Node');
    const wrongType = kindDecode(
      tempConfig('kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n    extraPortMappings:\n      - containerPort: http\n'),
    );
    expect(wrongType.status).toBe(1);
    expect(wrongType.stderr).toMatch(/cannot unmarshal !!str `http` into int32/);
    const oldApi = kindDecode(tempConfig('kind: Cluster\napiVersion: kind.sigs.k8s.io/v1alpha3\n'));
    expect(oldApi.status).toBe(1);
  });
});
