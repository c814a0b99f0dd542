export * from './shop.js';
export * from './processes.js';
export * from './wiring.js';
export * from './edge.js';
export * from './edge-jwt.js';
