import type { KubeConnection } from './kube-client.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kube: KubeConnection;
    kafka: { brokers: string[] };
    postgres: { url: string };
  }
}
