import { Testing, type Chart } from 'cdk8s';

/** A synthesized Kubernetes object as plain JSON. */
export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  [key: string]: unknown;
};

export function synth(chart: Chart): Manifest[] {
  return Testing.synth(chart) as Manifest[];
}

/** The one object of `kind` named `name`; fails loudly when it is missing or ambiguous. */
export function find(manifests: readonly Manifest[], kind: string, name: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  if (found.length !== 1) {
    const have = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ');
    throw new Error(`expected exactly one ${kind}/${name}, found ${found.length} among: ${have}`);
  }
  return found[0]!;
}
