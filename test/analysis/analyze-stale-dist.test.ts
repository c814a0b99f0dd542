import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAnalyze, staleDist } from '../../scripts/analyze.js';
import { synthPlatform } from '../support/platform.js';

// `npm run analyze` after a failed synth: dist/ is older than the sources and must not be
// analyzed as if it were the platform (it reported 0 errors on the stale files).

const root = mkdtempSync(join(tmpdir(), 'meshkit-stale-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const { files } = synthPlatform();
mkdirSync(join(root, 'dist'));
mkdirSync(join(root, 'charts'));
for (const [name, text] of files) writeFileSync(join(root, 'dist', name), text);
const source = join(root, 'charts', 'platform.ts');
writeFileSync(source, '// a source synth reads\n');
const at = (file: string, seconds: number) => utimesSync(file, seconds, seconds);
const distFiles = [...files.keys()].map((name) => join(root, 'dist', name));

describe('npm run analyze on a stale dist/', () => {
  it('refuses a dist/ older than the sources, naming the newer source and the fix (exit 2)', () => {
    for (const f of distFiles) at(f, 1_000_000);
    at(source, 2_000_000);
    const result = runAnalyze([], root);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^analyze: dist\/ is older than the sources: charts\/platform\.ts changed at 1970-01-24T03:33:20Z, dist\/ was written at 1970-01-12T13:46:40Z \(did the last synth fail\?\); run `make synth` first, or pass --allow-stale/,
    );
  });

  it('analyzes it anyway with --allow-stale, with the warning on stderr', () => {
    const result = runAnalyze(['--allow-stale'], root);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/^analyze: warning: dist\/ is older than the sources/);
    expect(result.stdout).not.toBe('');
  });

  it('analyzes a dist/ newer than every source without a word', () => {
    at(source, 500_000);
    expect(staleDist(root)).toBeUndefined();
    const result = runAnalyze([], root);
    expect(result).toMatchObject({ exitCode: 0, stderr: '' });
  });
});
