import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/cache.js';

// The floors of eslint.config.js, exercised on probe sources: an import that runs up a floor is
// an error naming the rule; the same import from a part above is fine.
const eslint = new ESLint({ cwd: repoRoot });

async function floorErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the import floors', () => {
  it.each([
    ['constructs/probe.ts', "import { services } from '../charts/platform.js';"],
    ['mesh/probe.ts', "import { analyze } from '../analysis/resilience-rules.js';"],
    ['mesh/probe.ts', "import { Fault } from '../chaos/constructs/fault-injection.js';"],
    ['charts/probe.ts', "import { checkCrossReferences } from '../analysis/cross-references.js';"],
    ['analysis/probe.ts', "import { smoke } from '../cli/smoke.js';"],
    ['analysis/probe.ts', "import { KubeClient } from '../infra/kube-client.js';"],
    ['manifests/probe.ts', "import { resourceBudget } from '../charts/platform.js';"],
    ['manifests/probe.ts', "import { KubeClient } from '../infra/kube-client.js';"],
    ['load/probe.ts', "import { startLoad } from '../chaos/load/generator.js';"],
    ['mesh/probe.ts', "import { KubeClient } from '../infra/kube-client.js';"],
    ['apps/kit/probe.ts', "import { services } from '../../charts/platform.js';"],
    ['charts/probe.ts', "import { smoke } from '../cli/smoke.js';"],
    ['infra/probe.ts', "import { startLocalShop } from '../local/dev/index.js';"],
    ['cli/probe.ts', "import { request } from '../test/apps/support.js';"],
    ['local/dev/probe.ts', "import { inject } from '../../test/harness/global-setup.js';"],
    ['contract/probe.ts', "import { Route } from '../mesh/route.js';"],
    ['contract/probe.ts', "import express from 'express';"],
    ['mesh/probe.ts', "import { services } from '../contract/services.js';"],
    ['constructs/probe.ts', "import { envNames } from '../contract/env.js';"],
    ['apps/kit/probe.ts', "import { Route } from '../../mesh/route.js';"],
  ])('%s may not import %s', async (file, source) => {
    expect(await floorErrors(file, `${source}\nexport {};\n`)).toEqual([expect.stringContaining('the floors')]);
  });

  it.each([
    ['charts/probe.ts', "import { MeshedService } from '../constructs/meshed-service.js';"],
    ['cli/probe.ts', "import { services } from '../charts/platform.js';"],
    ['analysis/probe.ts', "import { services } from '../charts/platform.js';"],
    ['scripts/probe.ts', "import { analyzeResilience } from '../analysis/resilience-rules.js';"],
    ['chaos/probe.ts', "import { Fault } from './constructs/fault-injection.js';"],
    ['infra/probe.ts', "import type { KubeObject } from '../manifests/kube-object.js';"],
    ['charts/probe.ts', "import { isWorkload } from '../manifests/workloads.js';"],
    ['analysis/probe.ts', "import { serviceOfHost } from '../manifests/hosts.js';"],
    ['bench/probe.ts', "import { LatencyHistogram } from '../load/histogram.js';"],
    ['chaos/load/probe.ts', "import { LatencyHistogram } from '../../load/histogram.js';"],
    ['local/dev/probe.ts', "import { KubeClient } from '../../infra/kube-client.js';"],
    ['test/probe.ts', "import { startLocalShop } from '../local/dev/index.js';"],
    ['contract/probe.ts', "import { read } from './route.js';"],
    ['apps/kit/probe.ts', "import { read } from '../../contract/route.js';"],
    ['apps/kit/probe.ts', "import { pathTemplateRegex } from '../../mesh/istio-match.js';"],
    ['charts/probe.ts', "import { services } from '../contract/index.js';"],
  ])('%s may import %s', async (file, source) => {
    expect(await floorErrors(file, `${source}\nexport {};\n`)).toEqual([]);
  });
});
