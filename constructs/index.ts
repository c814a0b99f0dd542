// The public entry point of meshkit's construct library: workload constructs
// from constructs/ and mesh policy from mesh/. Import from here, not from files.
export * from './event-topic.js';
export * from './kafka-cluster.js';
export * from './kafka-cluster-ref.js';
export * from './meshed-service.js';
export * from './postgres-database.js';
export * from './validation.js';
export * from './versions.js';
export * from '../mesh/index.js';
