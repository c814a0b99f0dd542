import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase } from '../../infra/postgres.js';
import { DatabaseUnavailableError, openDatabase, type Database } from '../../apps/kit/database.js';
import { createLogger } from '../../apps/kit/logger.js';

// The kit prepares every statement with parameters once per connection (apps/kit/database.ts);
// these tests run it on the real PostgreSQL: plans reused, and a schema change under a running
// replica answered once as "try again" (503), then served again.
const { url: postgresUrl } = inject('postgres');
let url: string;
let db: Database;
let admin: pg.Client;

beforeAll(async () => {
  url = await createDatabase(postgresUrl, `kit_prepared_${randomUUID().slice(0, 8)}`);
  db = await openDatabase({ url, pgliteDataDir: 'memory://', logger: createLogger('test', 'silent'), poolSize: 1 });
  admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
  await admin.query("INSERT INTO items VALUES (1, 'one'), (2, 'two')");
});

afterAll(async () => {
  await db?.close();
  await admin?.end();
});

describe('prepared statements on PostgreSQL', () => {
  it('prepares a statement with parameters once and reuses it, inside and outside transactions', async () => {
    for (let id = 1; id <= 2; id += 1) expect(await db.query('SELECT name FROM items WHERE id = $1', [id])).toEqual([{ name: id === 1 ? 'one' : 'two' }]);
    await db.transaction(async (tx) => {
      expect(await tx.query('SELECT name FROM items WHERE id = $1', [2])).toEqual([{ name: 'two' }]);
    });
    // pg_prepared_statements lists the statements of the session that asks: ask through the kit's one connection.
    const prepared = await db.query<{ name: string; runs: number }>(
      'SELECT name, (generic_plans + custom_plans)::int AS runs FROM pg_prepared_statements WHERE statement LIKE $1',
      ['SELECT name FROM items%'],
    );
    expect(prepared).toEqual([{ name: expect.stringMatching(/^meshkit_/), runs: 3 }]);
  });

  it('answers a statement outdated by a schema change with DatabaseUnavailableError once, then serves it again', async () => {
    const read = () => db.query('SELECT * FROM items WHERE id = $1', [1]);
    expect(await read()).toEqual([{ id: 1, name: 'one' }]);
    // Another replica's migration changes the row type under the cached plan.
    await admin.query('ALTER TABLE items ADD COLUMN note text');
    const stale = await read().catch((err: unknown) => err);
    expect(stale).toBeInstanceOf(DatabaseUnavailableError);
    expect((stale as DatabaseUnavailableError).status).toBe(503);
    expect(await read()).toEqual([{ id: 1, name: 'one', note: null }]);
  });
});
