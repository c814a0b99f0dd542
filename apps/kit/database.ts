import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { AppError } from './errors.js';
import type { Logger } from './logger.js';

/** Runs SQL. Rows come back as plain objects; use `::int` casts for counts (pg returns int8 as text). */
export interface Queryable {
  /**
   * On PostgreSQL a statement with parameters is prepared once per connection (named after its
   * text) and its plan reused, rather than parsed and planned on every call.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws.
   * Use only `tx` inside: on PGlite the database is busy until the transaction ends.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** A trivial query, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PostgreSQL URL; when undefined, an embedded PGlite is used. */
  readonly url: string | undefined;
  /** PGlite data directory, or `memory://`. */
  readonly pgliteDataDir: string;
  readonly logger: Logger;
  /**
   * Connections of the pg Pool.
   * @default 5
   */
  readonly poolSize?: number;
  /**
   * How long a query waits for a pool connection (a free one, or a new one to connect) before
   * it fails with DatabaseUnavailableError.
   * @default 3000
   */
  readonly connectTimeoutMs?: number;
}

/**
 * The database could not run a statement for reasons of load or reachability, not of the
 * request: no pool connection within the connect timeout (all busy, or the server does not
 * answer), a lost connection, the statement timeout, a server out of resources or shutting
 * down. Answered 503 so callers and the mesh retry later, never as a 500 (issue 17: POST
 * /orders answered 500s on an overloaded machine from pg-pool's connect timeout).
 */
export class DatabaseUnavailableError extends AppError {
  constructor(cause: Error) {
    super(503, 'DATABASE_UNAVAILABLE', `the database is overloaded or unreachable (${cause.message}); try again later`);
    this.cause = cause;
  }
}

/** SQLSTATE classes of load and reachability: 08 connection exception, 53 insufficient resources, 57 operator intervention (57014: statement timeout). */
const UNAVAILABLE_SQLSTATE = /^(08|53|57)/;
/** Socket errors of a connection that failed or broke. */
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** pg and pg-pool raise these without a code: pool wait or connect timeout, a connection that ended under a query. */
const UNAVAILABLE_MESSAGE = /^(timeout exceeded when trying to connect|Connection terminated|timeout expired|Query read timeout)/;

/** `err` as DatabaseUnavailableError when it is one of load or reachability; otherwise unchanged (constraint violations stay the caller's). */
export function databaseError(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof AppError) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code) || isStalePlan(err)))
    return new DatabaseUnavailableError(err);
  return UNAVAILABLE_MESSAGE.test(err.message) ? new DatabaseUnavailableError(err) : err;
}

const rethrowDatabaseError = (err: unknown): never => {
  throw databaseError(err);
};

/**
 * Names for prepared statements, one per statement text. Parsing and planning were over half of
 * PostgreSQL's time for the saga's statements (issue 17: parse + bind of unnamed statements vs
 * execute, in the server's log); a named statement is parsed once per connection and, after a few
 * runs, executed with its cached generic plan. The texts are the services' own constants, so the
 * set stays small.
 */
class StatementNames {
  private readonly names = new Map<string, string>();

  of(sql: string): string {
    let name = this.names.get(sql);
    if (name === undefined) {
      name = `meshkit_${this.names.size}`;
      this.names.set(sql, name);
    }
    return name;
  }
}

/**
 * A prepared statement whose row type a schema change altered under a running replica (another
 * replica's migration): PostgreSQL refuses that one execution (feature_not_supported) and plans it
 * afresh for the next, so it is answered as "try again".
 */
function isStalePlan(err: unknown): boolean {
  return (err as { code?: unknown }).code === '0A000' && /cached plan must not change result type/.test((err as Error).message ?? '');
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) return openPostgres(options.url, options.logger, options.poolSize ?? 5, options.connectTimeoutMs ?? 3000);
  return openPglite(options.pgliteDataDir);
}

function openPostgres(url: string, logger: Logger, max: number, connectTimeoutMs: number): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    // A stuck statement must not hold a request (and its row locks) longer than the mesh waits for it.
    statement_timeout: 5000,
    application_name: process.env['SERVICE_NAME'] ?? 'meshkit',
  });
  const statements = new StatementNames();
  // An idle client can lose its connection (database restart); without a listener that would crash the process.
  pool.on('error', (err) => logger.warn({ err }, 'idle database connection failed'));
  const queryable = (client: pg.Pool | pg.PoolClient): Queryable => ({
    query: async <T>(sql: string, params?: readonly unknown[]) =>
      (
        await (
          params === undefined || params.length === 0 ? client.query(sql) : client.query({ name: statements.of(sql), text: sql, values: params as unknown[] })
        ).catch(rethrowDatabaseError)
      ).rows as T[],
    exec: async (sql) => {
      await client.query(sql).catch(rethrowDatabaseError);
    },
  });
  return {
    kind: 'postgres',
    ...queryable(pool),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect().catch(rethrowDatabaseError);
      let broken: Error | undefined;
      try {
        await client.query('BEGIN').catch(rethrowDatabaseError);
        const result = await fn(queryable(client));
        await client.query('COMMIT').catch(rethrowDatabaseError);
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw err;
      } finally {
        // A client whose rollback failed is in an unknown state: destroy it rather than reuse it.
        client.release(broken);
      }
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir === 'memory://' || dataDir === '';
  if (!inMemory) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(inMemory ? undefined : dataDir);
  const wrap = (q: { query: PGlite['query']; exec: PGlite['exec'] }): Queryable => ({
    query: async <T>(sql: string, params?: readonly unknown[]) => (await q.query<T>(sql, params as unknown[] | undefined)).rows,
    exec: async (sql) => {
      await q.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    ...wrap(db),
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    async ping() {
      await db.query('SELECT 1');
    },
    async close() {
      await db.close();
    },
  };
}

/** A schema change, applied once, in order of `id`. Never edit one that has shipped: add another. */
export interface Migration {
  readonly id: string;
  readonly sql: string;
}

/**
 * Applies the migrations not yet recorded, each in its own transaction. An
 * advisory lock makes replicas that start together apply them one at a time.
 */
export async function migrate(db: Database, migrations: readonly Migration[], logger: Logger): Promise<string[]> {
  const ids = migrations.map((m) => m.id);
  const sorted = [...ids].sort();
  if (ids.some((id, i) => id !== sorted[i]) || new Set(ids).size !== ids.length) {
    throw new Error(`migration ids must be unique and sorted (got ${ids.join(', ')})`);
  }
  await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(72431)');
      const seen = await tx.query('SELECT 1 FROM schema_migrations WHERE id = $1', [migration.id]);
      if (seen.length > 0) return false;
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
      return true;
    });
    if (done) {
      applied.push(migration.id);
      logger.info({ migration: migration.id }, 'migration applied');
    }
  }
  return applied;
}
