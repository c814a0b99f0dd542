import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildPlatform } from '../../charts/platform-app.js';
import { repoRoot } from '../../infra/cache.js';
import { ensurePythonTool } from '../../infra/python-tools.js';

interface CheckovReport {
  summary: { passed: number; failed: number; resource_count: number };
  results: { failed_checks: { check_id: string; resource: string }[] };
}

describe('Checkov over the synthesized platform', () => {
  const skipped: string[] = parse(readFileSync(join(repoRoot, '.checkov.yaml'), 'utf8'))['skip-check'];

  it('leaves no failed check apart from the documented exceptions', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'meshkit-checkov-'));
    try {
      buildPlatform({ outdir }).app.synth();
      const result = spawnSync(ensurePythonTool('checkov'), ['--config-file', join(repoRoot, '.checkov.yaml'), '-d', outdir, '-o', 'json'], {
        encoding: 'utf8',
      });
      const parsed = JSON.parse(result.stdout) as CheckovReport | CheckovReport[];
      const report = Array.isArray(parsed) ? parsed[0]! : parsed;
      expect(report.results.failed_checks.map((f) => `${f.check_id} ${f.resource}`)).toEqual([]);
      expect(report.summary.failed).toBe(0);
      expect(report.summary.passed).toBeGreaterThan(500);
      expect(report.summary.resource_count).toBeGreaterThan(50);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
    // A first run pip-installs Checkov into the cache.
  }, 300_000);

  it('explains every skipped check in the README', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Checkov exceptions'));
    expect(skipped.length).toBeGreaterThan(0);
    for (const id of skipped) expect(section, id).toMatch(new RegExp(`\\| ${id} \\|[^|]+\\|[^|]{20,}\\|`));
  });
});
