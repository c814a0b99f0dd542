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
    ['mesh/probe.ts', "import { analyze } from './analysis/resilience-rules.js';"],
    ['mesh/probe.ts', "import { KubeClient } from '../infra/kube-client.js';"],
    ['apps/kit/probe.ts', "import { services } from '../../charts/platform.js';"],
    ['charts/probe.ts', "import { smoke } from '../cli/smoke.js';"],
    ['infra/probe.ts', "import { startLocalShop } from '../local/dev/index.js';"],
    ['cli/probe.ts', "import { request } from '../test/apps/support.js';"],
    ['local/dev/probe.ts', "import { inject } from '../../test/harness/global-setup.js';"],
  ])('%s may not import %s', async (file, source) => {
    expect(await floorErrors(file, `${source}\nexport {};\n`)).toEqual([expect.stringContaining('the floors')]);
  });

  it.each([
    ['charts/probe.ts', "import { MeshedService } from '../constructs/meshed-service.js';"],
    ['cli/probe.ts', "import { services } from '../charts/platform.js';"],
    ['local/dev/probe.ts', "import { KubeClient } from '../../infra/kube-client.js';"],
    ['test/probe.ts', "import { startLocalShop } from '../local/dev/index.js';"],
  ])('%s may import %s', async (file, source) => {
    expect(await floorErrors(file, `${source}\nexport {};\n`)).toEqual([]);
  });
});
