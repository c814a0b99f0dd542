import { parse } from 'yaml';
import { KubeApiError, KubeClient, type KubeConnection, type KubeObject } from '../infra/kube-client.js';

export type { KubeConnection, KubeObject };

/**
 * The Kubernetes reads and writes the bring-up needs. The real implementation is our
 * KubeClient pointed at the kind cluster (see `kubeClusterApi`): the same code the
 * integration tests run against a real kube-apiserver, structured JSON instead of parsed
 * kubectl output, no dependency on the user's kubeconfig or kubectl version. Unit tests
 * use an in-memory fake. Only pod logs and port-forwards need the kubelet, so those go
 * through kubectl (CommandRunner).
 */
export interface ClusterApi {
  get(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined>;
  list(apiVersion: string, kind: string, options?: { namespace?: string; labelSelector?: string }): Promise<KubeObject[]>;
  /** Server-side apply (field manager `meshkit`, conflicts forced), in order; returns what the server stored. */
  apply(objects: readonly KubeObject[]): Promise<KubeObject[]>;
  /** Creates the object unless one with its name exists; false when it already existed (left untouched). */
  create(object: KubeObject): Promise<boolean>;
  /** JSON merge patch of an existing object (used to restart a Deployment). */
  mergePatch(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown): Promise<void>;
  /** True once the API server serves this kind (a CRD is Established and discovery caught up). */
  serves(apiVersion: string, kind: string): Promise<boolean>;
  close(): void;
}

async function collectionPath(client: KubeClient, apiVersion: string, kind: string, namespace: string | undefined): Promise<string> {
  const m = await client.mapping(apiVersion, kind);
  return `${m.groupVersionPath}${m.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : ''}/${m.resource}`;
}

/** ClusterApi over KubeClient. */
export function kubeClusterApi(client: KubeClient): ClusterApi {
  return {
    get: (apiVersion, kind, name, namespace) => client.get(apiVersion, kind, name, namespace),
    list: (apiVersion, kind, options) => client.list(apiVersion, kind, options),
    apply: (objects) => client.applyServerSide(objects),
    async create(object) {
      const path = await collectionPath(client, object.apiVersion, object.kind, object.metadata.namespace);
      try {
        await client.request('POST', `${path}?fieldManager=meshkit`, { body: object });
        return true;
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 409) return false;
        throw error;
      }
    },
    async mergePatch(apiVersion, kind, name, namespace, patch) {
      const path = `${await collectionPath(client, apiVersion, kind, namespace)}/${encodeURIComponent(name)}`;
      await client.request('PATCH', `${path}?fieldManager=meshkit-cli`, { body: patch, contentType: 'application/merge-patch+json' });
    },
    serves: (apiVersion, kind) => client.serves(apiVersion, kind),
    close: () => client.close(),
  };
}

interface Kubeconfig {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users?: { name: string; user: { 'client-certificate-data'?: string; 'client-key-data'?: string; token?: string } }[];
}

const fromBase64 = (data: string | undefined) => (data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8'));

/**
 * Reads the connection out of a kubeconfig with embedded credentials, as
 * `kind get kubeconfig` prints it (certificate data inline, client certificate auth).
 */
export function connectionFromKubeconfig(text: string, contextName?: string): KubeConnection {
  const config = parse(text) as Kubeconfig;
  const wanted = contextName ?? config['current-context'];
  const context = config.contexts?.find((c) => c.name === wanted)?.context;
  if (!context) throw new Error(`kubeconfig has no context '${wanted ?? '(none)'}'`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === context.user)?.user;
  if (!cluster?.server) throw new Error(`kubeconfig context '${wanted}' names cluster '${context.cluster}', which has no server`);
  const caCert = fromBase64(cluster['certificate-authority-data']);
  if (!caCert) throw new Error(`kubeconfig cluster '${context.cluster}' has no certificate-authority-data (kind always embeds it)`);
  if (!user) throw new Error(`kubeconfig context '${wanted}' names user '${context.user}', which is missing`);
  return {
    url: cluster.server,
    caCert,
    token: user.token ?? '',
    clientCert: fromBase64(user['client-certificate-data']),
    clientKey: fromBase64(user['client-key-data']),
  };
}
