import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { versions } from '../../constructs/versions.js';
import { minimums } from '../../cli/doctor.js';
import { repoRoot } from '../../infra/cache.js';

/** The kind node image is written once (constructs/versions.ts); kind-config.yaml must name exactly it. */
describe('kind node image', () => {
  const config = parse(readFileSync(join(repoRoot, 'kind-config.yaml'), 'utf8')) as { nodes: { role: string; image: string }[] };

  it('kind-config.yaml runs every node on versions.kindNodeImage', () => {
    expect(config.nodes.map((n) => n.image)).toEqual(config.nodes.map(() => versions.kindNodeImage));
  });

  it('is pinned by sha256 digest, as kind release notes ask, to a kindest/node of the Kubernetes minor in versions.ts', () => {
    const m = /^kindest\/node:v(\d+)\.(\d+)\.(\d+)@sha256:([0-9a-f]{64})$/.exec(versions.kindNodeImage);
    expect(m, versions.kindNodeImage).not.toBeNull();
    const [major, minor] = versions.kubernetes.split('.');
    expect(`${m![1]}.${m![2]}`).toBe(`${major}.${minor}`);
  });

  it('doctor requires at least the kind release that built the image', () => {
    expect(minimums.kind.join('.')).toBe(versions.kind);
  });
});
