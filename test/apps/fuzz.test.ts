import { fuzzTheShop } from './schemathesis.js';

// Every operation of every service, fuzzed from its committed OpenAPI document (docs/openapi)
// by schemathesis, against the five services in-process on PGlite (testEnv's in-memory data
// dir). The same run on the real PostgreSQL is fuzz.int.test.ts.
fuzzTheShop('PGlite', async () => ({}));
