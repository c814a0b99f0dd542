import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/cache.js';

// A machine without Go: `npm run import` (the first step of `make synth` and `make test`)
// must stop with the component and the fix, not with a stack trace or a skip.
const scratch = mkdtempSync(join(tmpdir(), 'meshkit-no-go-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('a component that cannot be provisioned', () => {
  it('fails `npm run import` with exit code 1, naming the component and the fix, without a stack trace', () => {
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const result = spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'scripts/import-crd-types.ts'], {
      cwd: repoRoot,
      encoding: 'utf8',
      // Only node on PATH, and an empty cache, so nothing provisioned earlier can stand in for Go.
      env: { PATH: bin, HOME: process.env.HOME ?? scratch, MESHKIT_CACHE: join(scratch, 'cache') },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      '[istio-crds] `go` not found on PATH\n  fix: install Go 1.24 or newer (https is not needed: the Go module proxy serves istio.io/api) and re-run\n',
    );
    expect(result.stdout).toBe('');
  });
});
