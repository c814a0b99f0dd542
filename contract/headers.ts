/** Request headers the services and the mesh agree on. */

/** Names one logical request: the mesh retries writes that carry it, the service answers a repeat once. */
export const idempotencyKeyHeader = 'idempotency-key';

/** Written by the edge from a verified JWT's subject; a client's own value is always dropped. */
export const userIdHeader = 'x-user-id';
