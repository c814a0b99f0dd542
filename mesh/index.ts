// Mesh policy of the construct library, re-exported by constructs/index.ts.
// analysis/ (the offline analyzer of synthesized manifests) and chaos/constructs/ (fault injection for the
// chaos demos) are tools above the library, not part of it.
export * from './callers.js';
export * from './edge-gateway.js';
export * from './istio-duration.js';
export * from './namespace-security.js';
export * from './resilience-policy.js';
export * from './retry.js';
export * from './route.js';
export * from './traffic-policy.js';
export * from './workload-access.js';
