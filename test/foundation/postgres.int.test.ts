import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, provisionPostgres } from '../../infra/postgres.js';

describe('the test PostgreSQL server', () => {
  const { url } = inject('postgres');
  let pool: pg.Pool;

  let databaseUrl: string;

  beforeAll(async () => {
    databaseUrl = await createDatabase(url, `foundation_${randomUUID().replaceAll('-', '')}`);
    pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('creates a database of its own and connects to it', async () => {
    const { rows } = await pool.query<{ db: string }>('select current_database() as db');
    expect(`/${rows[0]?.db}`).toBe(new URL(databaseUrl).pathname);
  });

  it('refuses a database name that is not a plain identifier', async () => {
    await expect(createDatabase(url, 'x"; drop database postgres; --')).rejects.toThrow(/lower-case SQL identifier/);
  });

  it('runs the PostgreSQL version that the harness found', async () => {
    const { rows } = await pool.query<{ server_version: string }>('show server_version');
    expect(rows[0]?.server_version.split(' ')[0]).toBe(provisionPostgres().version);
  });

  it('listens on loopback only, with durability switched off for speed', async () => {
    const { rows } = await pool.query<{ name: string; setting: string }>(
      `select name, setting from pg_settings where name in ('listen_addresses', 'fsync', 'full_page_writes') order by name`,
    );
    expect(rows).toEqual([
      { name: 'fsync', setting: 'off' },
      { name: 'full_page_writes', setting: 'off' },
      { name: 'listen_addresses', setting: '127.0.0.1' },
    ]);
  });

  it('commits a transaction and rolls another back', async () => {
    await pool.query('create table stock (sku text primary key, available integer not null check (available >= 0))');
    await pool.query(`insert into stock values ('tea', 3)`);

    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`update stock set available = available - 2 where sku = 'tea'`);
      await client.query('commit');

      await client.query('begin');
      await expect(client.query(`update stock set available = available - 2 where sku = 'tea'`)).rejects.toThrow(/violates check constraint/);
      await client.query('rollback');
    } finally {
      client.release();
    }
    const { rows } = await pool.query<{ available: number }>(`select available from stock where sku = 'tea'`);
    expect(rows).toEqual([{ available: 1 }]);
  });

  it('serves parallel connections from one pool', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.query<{ n: number }>('select $1::int as n, pg_sleep(0.05)', [i])));
    expect(results.map((r) => r.rows[0]?.n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
