import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createDatabase } from '../../infra/postgres.js';
import { fuzzTheShop } from './schemathesis.js';

// fuzz.test.ts on the real PostgreSQL (one database per service), which refuses what PGlite
// might not: every operation of every service, from the committed OpenAPI documents.
const { url: postgresUrl } = inject('postgres');
const run = randomUUID().replaceAll('-', '').slice(0, 12);

fuzzTheShop('PostgreSQL', async (service) => ({ DATABASE_URL: await createDatabase(postgresUrl, `fuzz_${service}_${run}`) }));
