import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/cache.js';
import { ensurePythonTool } from '../../infra/python-tools.js';
import { requireTool } from '../../infra/tools.js';

/** Files of the repository (not node_modules, caches or build output) matching `test`. */
function repoFiles(test: (path: string) => boolean, dir = repoRoot): string[] {
  const skip = new Set(['node_modules', '.git', '.cache', 'dist', 'imports', 'coverage']);
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return skip.has(entry.name) ? [] : repoFiles(test, path);
    return test(path) ? [path] : [];
  });
}

function check(command: string, args: string[]) {
  const result = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** A first run may install the tool (apt for shellcheck, pip for the PyPI linters). */
const PROVISION_TIMEOUT_MS = 300_000;

const isShell = (path: string) =>
  path.endsWith('.sh') || relative(repoRoot, path) === '.ci/run' || readFileSync(path, 'utf8').startsWith('#!/usr/bin/env bash');

describe('checks of what cannot run here', () => {
  it(
    'every shell script passes shellcheck',
    () => {
      const shellcheck = requireTool({
        component: 'shellcheck',
        command: 'shellcheck',
        aptPackages: ['shellcheck'],
        fix: 'install shellcheck (Debian: apt-get install shellcheck)',
      });
      const scripts = repoFiles((p) => !p.endsWith('.ts') && !p.endsWith('.md') && !p.endsWith('.json') && isShell(p));
      expect(scripts.map((s) => relative(repoRoot, s))).toContain('.ci/run');
      const result = check(shellcheck, ['--severity=style', ...scripts]);
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    },
    PROVISION_TIMEOUT_MS,
  );

  it(
    'every Dockerfile passes hadolint',
    () => {
      const dockerfiles = repoFiles((p) => /(^|\/)Dockerfile(\.[\w-]+)?$/.test(p));
      expect(dockerfiles.length).toBeGreaterThan(0);
      const result = check(ensurePythonTool('hadolint'), ['--failure-threshold', 'style', ...dockerfiles]);
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    },
    PROVISION_TIMEOUT_MS,
  );

  it(
    'the repository YAML passes yamllint',
    () => {
      const files = repoFiles((p) => /\.ya?ml$/.test(p) && !p.includes('/infra/kafka/'));
      expect(files.map((f) => relative(repoRoot, f))).toEqual(expect.arrayContaining(['kind-config.yaml', 'cdk8s.yaml']));
      const result = check(ensurePythonTool('yamllint'), ['--strict', '-c', join(repoRoot, '.yamllint.yaml'), ...files]);
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    },
    PROVISION_TIMEOUT_MS,
  );
});
