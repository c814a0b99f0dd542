import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './kube-object.js';

/** Parses multi-document YAML, dropping empty documents (a trailing `---`, Helm's `...` end markers). */
export function parseObjects(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${source}: document ${i + 1}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as KubeObject | null;
    if (value === null || value === undefined) return [];
    if (typeof value !== 'object' || !value.apiVersion || !value.kind || !value.metadata?.name) {
      throw new Error(`${source}: document ${i + 1} is not a Kubernetes object (apiVersion, kind and metadata.name are required)`);
    }
    return [value];
  });
}

/** The synthesized manifests (`make synth` writes dist/*.k8s.yaml), in file order. */
export function loadDist(repoRoot: string): KubeObject[] {
  const dist = join(repoRoot, 'dist');
  const files = existsSync(dist)
    ? readdirSync(dist)
        .filter((f) => f.endsWith('.k8s.yaml'))
        .sort()
    : [];
  if (files.length === 0) throw new Error(`no synthesized manifests in ${dist}: run \`make synth\` (\`make up\` and \`make apply\` do it first)`);
  return files.flatMap((file) => parseObjects(readFileSync(join(dist, file), 'utf8'), `dist/${file}`));
}
