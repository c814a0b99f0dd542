import type { KubeConnection } from '../../infra/kube-client.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeConnection;
    kafka: { brokers: string[] };
    postgres: { url: string };
  }
}
