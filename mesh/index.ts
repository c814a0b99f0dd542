export * from './istio-duration.js';
export * from './resilience-policy.js';
export * from './retry.js';
export * from './route.js';
export * from './traffic-policy.js';
export * from './analysis/cross-references.js';
