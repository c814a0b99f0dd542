import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { ChaosEnvironment } from '../../chaos/environment.js';
import { main, openMesh } from '../../chaos/main.js';
import type { ScenarioReport } from '../../chaos/report.js';
import type { KubeObject } from '../../infra/kube-client.js';
import { repoRoot } from '../../local/dev/paths.js';
import { networkLeftovers } from '../../local/mesh/pod-network.js';
import { synthPlatform } from '../support/platform.js';

// `make chaos SCENARIO=faulty-payment-pod ARGS=--mesh` through the real chaos CLI: the shop (synthesized here,
// so a fresh clone needs no dist/) on istiod and Envoy sidecars, one payment pod failing half its charges at the
// mesh defaults (2 orders/s, 45 s of fault), baseline and after shortened to 10 s. Only a mesh makes this PASS:
// the order sidecars retry the 503s and outlier detection ejects the pod, read from those sidecars' Envoy stats.

describe('make chaos SCENARIO=faulty-payment-pod ARGS=--mesh', () => {
  it('passes on real Envoy: orders stay confirmed, the sidecars retried and ejected the faulty pod; stop() leaves no namespace behind', async () => {
    const out: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'meshkit-chaos-mesh-'));
    const json = join(dir, 'reports.json');
    const began = Date.now();
    try {
      const code = await main(['faulty-payment-pod', '--mesh', '--baseline', '10', '--after', '10', '--json', json], {
        print: (line) => out.push(line),
        progress: () => undefined,
        repoRoot,
        open: async () => {
          const { platform, objects } = synthPlatform();
          const env: ChaosEnvironment = await openMesh(repoRoot, (line) => out.push(line), {
            kube: inject('kube'),
            manifests: objects as KubeObject[],
            secrets: platform.requiredSecrets,
            readyTimeoutMs: 900_000,
          });
          return env;
        },
      });
      const text = out.join('\n');
      const [report] = JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport[];
      console.log(`chaos faulty-payment-pod --mesh: ${Math.round((Date.now() - began) / 1000)} s\n${text}`);
      expect(report!.mode).toBe('mesh');
      expect(report!.verdict, text).toBe('PASS');
      expect(code).toBe(0);
      const check = (start: string) => report!.checks.find((c) => c.expectation.startsWith(start));
      expect(check('the order sidecars retried')?.outcome, text).toBe('pass');
      expect(check('outlier detection ejected')?.outcome, text).toBe('pass');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The run's names all start with its bridge's (`[mesh] pod network … on bridge mk-<id>`); main closed the environment.
    const prefix = /on bridge (mk-\S+)/.exec(out.join('\n'))?.[1];
    expect(prefix).toBeDefined();
    expect(await networkLeftovers(prefix)).toEqual({ netns: [], links: [], etcNetns: [], mounts: [] });
  }, 1_800_000);
});
