import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachePath } from '../../infra/cache.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../infra/embedded-postgres.js';

describe('the embedded PostgreSQL (PGlite)', () => {
  let db: EmbeddedPostgres;

  beforeAll(async () => {
    db = await startEmbeddedPostgres();
  });

  afterAll(async () => {
    await db?.close();
  });

  it('answers parameterised queries in the node-postgres result shape', async () => {
    const result = await db.query<{ n: number; label: string }>('select $1::int as n, $2::text as label', [42, 'tea']);
    expect(result.rows).toEqual([{ n: 42, label: 'tea' }]);
    expect(result.rowCount).toBe(1);
    expect(result.command).toBe('SELECT');
  });

  it('is at least as new as PostgreSQL 15, the real test server', async () => {
    const { rows } = await db.query<{ num: string }>(`select current_setting('server_version_num') as num`);
    expect(Number(rows[0]?.num)).toBeGreaterThanOrEqual(150000);
  });

  it('commits and rolls back transactions on a pooled client', async () => {
    await db.query('create table orders (id text primary key, status text not null)');
    const client = await db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`insert into orders values ('o-1', 'PENDING')`);
      await client.query('commit');
      await client.query('begin');
      await client.query(`update orders set status = 'CANCELLED' where id = 'o-1'`);
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect((await db.query('select id, status from orders')).rows).toEqual([{ id: 'o-1', status: 'PENDING' }]);
  });

  it('queues parallel queries through its single session', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => db.query<{ i: number }>('select $1::int as i', [i])));
    expect(results.map((r) => r.rows[0]?.i)).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps its data in a dataDir across close and reopen', async () => {
    const dataDir = mkdtempSync(join(cachePath('pglite'), 'test-'));
    try {
      const first = await startEmbeddedPostgres({ dataDir });
      await first.query('create table kept (v int)');
      await first.query('insert into kept values (7)');
      await first.close();
      const second = await startEmbeddedPostgres({ dataDir });
      const { rows } = await second.query('select v from kept');
      await second.close();
      expect(rows).toEqual([{ v: 7 }]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
