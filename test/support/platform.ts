import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { buildPlatform, type Platform } from '../../charts/platform-app.js';
import type { Manifest } from './manifests.js';

/** Synthesizes the whole platform to a temp dir exactly as `npm run synth` does, and reads it back. */
export function synthPlatform(): { platform: Platform; files: Map<string, string>; objects: Manifest[] } {
  const outdir = mkdtempSync(join(tmpdir(), 'meshkit-synth-'));
  try {
    const platform = buildPlatform({ outdir });
    platform.app.synth();
    const files = new Map<string, string>();
    for (const file of readdirSync(outdir).sort()) files.set(file, readFileSync(join(outdir, file), 'utf8'));
    const objects = [...files.values()].flatMap((text) => parseAllDocuments(text).map((d) => d.toJS() as Manifest)).filter(Boolean);
    return { platform, files, objects };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
