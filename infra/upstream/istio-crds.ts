import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../../constructs/versions.js';
import { cachePath } from '../cache.js';
import { requireTool, run } from '../tools.js';

const component = 'istio-crds';
const fix = 'install Go 1.24 or newer (https is not needed: the Go module proxy serves istio.io/api) and re-run';

/**
 * Istio's CustomResourceDefinitions, taken from the Go module istio.io/api at the
 * pinned Istio version (kubernetes/customresourcedefinitions.gen.yaml), cached.
 * Returns the path of the cached YAML file.
 */
export function ensureIstioCrds(): string {
  const target = join(cachePath('crds'), `istio-${versions.istio}.yaml`);
  if (existsSync(target)) return target;
  const go = requireTool({ component, command: 'go', fix });
  const json = run(go, ['mod', 'download', '-json', `istio.io/api@v${versions.istio}`], {
    component,
    fix,
    cwd: cachePath('crds'),
    env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' },
  });
  const { Dir } = JSON.parse(json) as { Dir?: string };
  const source = Dir && join(Dir, 'kubernetes', 'customresourcedefinitions.gen.yaml');
  if (!source || !existsSync(source)) {
    throw new Error(`[${component}] istio.io/api@v${versions.istio} has no kubernetes/customresourcedefinitions.gen.yaml`);
  }
  copyFileSync(source, target);
  return target;
}
