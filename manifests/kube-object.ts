/**
 * A Kubernetes object as plain JSON: what cdk8s synthesizes into dist/, what the API server
 * returns, and what the analyzer, the CLI, Pulumi, local/mesh and bench read.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the spec of an arbitrary kind is untyped JSON */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [key: string]: unknown };
  spec?: any;
  [key: string]: unknown;
}

/** `<apiVersion> <kind> <namespace>/<name>`: unique across one set of manifests. */
export function keyOf(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** The API group of an apiVersion: `''` for the core group (`v1`). */
export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
}
