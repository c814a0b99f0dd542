/** The platform contract: what two parts must agree on, declared once, importing nothing. */
export * from './calls.js';
export * from './edge.js';
export * from './env.js';
export * from './headers.js';
export * from './order-events.js';
export * from './route.js';
export * from './service.js';
export * from './services.js';
export * from './topics.js';
