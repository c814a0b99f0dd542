import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** Directory that keeps the database between runs (a kept one opens in about a second). @default - in memory, gone on close() */
  readonly dataDir?: string;
}

export interface EmbeddedPostgres {
  /**
   * A node-postgres pool over the in-process PGlite, through PGlite's own
   * node-postgres adapter: the same `query` / `connect` API as a pool on a real
   * server, no socket. PGlite is one session, so the pool holds one client:
   * never call `pool.query` while holding a client from `pool.connect()`
   * (it would wait for that client forever).
   */
  readonly pool: pg.Pool;
  /** `pool.query`, bound. */
  readonly query: pg.Pool['query'];
  /** The engine itself, for what pg cannot do (dumps, extensions). */
  readonly pglite: PGlite;
  /** Milliseconds to open the database. */
  readonly startupMs: number;
  /** Ends the pool, then closes PGlite (which flushes a dataDir). */
  close(): Promise<void>;
}

/**
 * PostgreSQL compiled to WebAssembly, in this process: the local default for
 * the services when no DATABASE_URL is given. Concurrency guarantees (locks
 * across sessions, no oversell) need the real server from postgres.ts.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const began = performance.now();
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const pglite = options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create();
  const pool = new pg.Pool(createPgConfig(pglite));
  const startupMs = Math.round(performance.now() - began);
  return {
    pool,
    query: pool.query.bind(pool),
    pglite,
    startupMs,
    async close() {
      await pool.end();
      await pglite.close();
    },
  };
}
