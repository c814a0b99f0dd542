/**
 * One service of the saga floor (bench/saga-floor.ts): a plain `node:http` server with a
 * `pg` Pool on its own database and trivial handlers, making the saga's hops and database round
 * trips and nothing else (no Express, no kit: no validation, metrics, logs, trace context, outbox).
 * Started (bundled) as a child process; reports its port over IPC and serves until SIGTERM.
 *
 * ROLE=user          GET /users/{id}: 1 SELECT by primary key
 * ROLE=product       POST /reservations: 1 INSERT; POST /reservations/{orderId}/commit: 1 UPDATE
 * ROLE=payment       POST /charges: 1 SELECT by primary key (the idempotency key) + 1 INSERT
 * ROLE=order         POST /orders: the saga, with 5 statements of its own (1 INSERT, 4 UPDATEs)
 *                    around calls to USER_URL, PRODUCT_URL and PAYMENT_URL
 * ROLE=notification  no route the saga calls (its work in the shop comes from Kafka): an idle pool
 *
 * Every statement is autocommit (one transaction each), named (prepared once per connection) as
 * the kit's Database sends them, on a table with a primary key index.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';

const env = process.env;
const role = env['ROLE'] ?? '';
const url = env['DATABASE_URL'];
if (!url || !['user', 'product', 'payment', 'order', 'notification'].includes(role)) {
  process.stderr.write('ROLE (user, product, payment, order, notification) and DATABASE_URL are required\n');
  process.exit(2);
}

// The kit's pool settings (apps/kit/database.ts).
const pool = new pg.Pool({ connectionString: url, max: 5, idleTimeoutMillis: 30_000, statement_timeout: 5000, application_name: `floor-${role}` });
pool.on('error', () => undefined);

async function sql<T extends pg.QueryResultRow = Record<string, unknown>>(name: string, text: string, values: unknown[]): Promise<T[]> {
  return (await pool.query<T>({ name, text, values })).rows;
}

const SCHEMA: Record<string, string> = {
  user: `CREATE TABLE IF NOT EXISTS users (id uuid PRIMARY KEY, email text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
  product: `CREATE TABLE IF NOT EXISTS reservations (order_id uuid PRIMARY KEY, status text NOT NULL, items jsonb NOT NULL, total_cents int NOT NULL,
              currency text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`,
  payment: `CREATE TABLE IF NOT EXISTS idempotency_keys (scope text, key text, outcome jsonb, PRIMARY KEY (scope, key));
            CREATE TABLE IF NOT EXISTS payments (id uuid PRIMARY KEY, amount_cents int NOT NULL, currency text NOT NULL, reference text NOT NULL,
              status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
  order: `CREATE TABLE IF NOT EXISTS orders (id uuid PRIMARY KEY, user_id uuid NOT NULL, status text NOT NULL, step text NOT NULL, items jsonb NOT NULL,
            total_cents int, currency text, charge_id uuid, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())`,
  notification: `CREATE TABLE IF NOT EXISTS notifications (id uuid PRIMARY KEY, order_id uuid NOT NULL, body jsonb NOT NULL)`,
};

type Answer = { status: number; body: unknown };
type Handler = (req: IncomingMessage, body: string, params: string[]) => Promise<Answer>;
type Line = { productId: string; quantity: number; unitPriceCents?: number };

const PRICE_CENTS = 990;

/** Routes by role: method, path pattern (its groups are the params), handler. */
const routes: Record<string, Array<[string, RegExp, Handler]>> = {
  user: [
    [
      'GET',
      /^\/users\/([0-9a-f-]{36})$/,
      async (_req, _body, [id]) => {
        const [row] = await sql('user-get', 'SELECT id, email, name, created_at FROM users WHERE id = $1', [id]);
        return row
          ? { status: 200, body: { id: row['id'], email: row['email'], name: row['name'], createdAt: row['created_at'] } }
          : notFound('USER_NOT_FOUND');
      },
    ],
  ],
  product: [
    [
      'POST',
      /^\/reservations$/,
      async (_req, body) => {
        const input = JSON.parse(body) as { orderId: string; items: Line[] };
        const items = input.items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: PRICE_CENTS }));
        const totalCents = items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);
        await sql('reserve', `INSERT INTO reservations (order_id, status, items, total_cents, currency) VALUES ($1, 'RESERVED', $2, $3, 'EUR')`, [
          input.orderId,
          JSON.stringify(items),
          totalCents,
        ]);
        return { status: 201, body: { orderId: input.orderId, status: 'RESERVED', items, totalCents, currency: 'EUR' } };
      },
    ],
    [
      'POST',
      /^\/reservations\/([0-9a-f-]{36})\/commit$/,
      async (_req, _body, [orderId]) => {
        const [row] = await sql('commit', `UPDATE reservations SET status = 'COMMITTED', updated_at = now() WHERE order_id = $1 RETURNING *`, [orderId]);
        return row
          ? { status: 200, body: { orderId, status: row['status'], items: row['items'], totalCents: row['total_cents'], currency: row['currency'] } }
          : notFound('RESERVATION_NOT_FOUND');
      },
    ],
  ],
  payment: [
    [
      'POST',
      /^\/charges$/,
      async (req, body) => {
        const input = JSON.parse(body) as { amountCents: number; currency: string; source: string; reference: string };
        const key = String(req.headers['idempotency-key'] ?? '');
        const [seen] = await sql('charge-seen', `SELECT outcome FROM idempotency_keys WHERE scope = 'charge' AND key = $1`, [key]);
        if (seen) return { status: 200, body: seen['outcome'] };
        const charge = { id: randomUUID(), amountCents: input.amountCents, currency: input.currency, reference: input.reference, status: 'SUCCEEDED' };
        await sql('charge', `INSERT INTO payments (id, amount_cents, currency, reference, status) VALUES ($1, $2, $3, $4, $5)`, [
          charge.id,
          charge.amountCents,
          charge.currency,
          charge.reference,
          charge.status,
        ]);
        return { status: 201, body: { ...charge, createdAt: new Date().toISOString() } };
      },
    ],
  ],
  order: [['POST', /^\/orders$/, placeOrder]],
  notification: [],
};

function notFound(code: string): Answer {
  return { status: 404, body: { error: { code, message: 'not found' } } };
}

/** A keep-alive client per upstream, as apps/kit/http-client.ts makes them. */
function upstream(base: string | undefined): { agent: Agent; host: string; port: string } {
  const u = new URL(base ?? 'http://127.0.0.1:1');
  return { agent: new Agent({ keepAlive: true, scheduling: 'lifo', timeout: 30_000 }), host: u.hostname, port: u.port };
}
const users = upstream(env['USER_URL']);
const products = upstream(env['PRODUCT_URL']);
const payments = upstream(env['PAYMENT_URL']);

/** The incoming trace headers, forwarded on every call as the kit's propagationHeaders() does. */
const TRACE = ['x-request-id', 'traceparent', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled'];
function forwarded(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = { accept: 'application/json' };
  for (const name of TRACE) if (typeof headers[name] === 'string') out[name] = headers[name];
  return out;
}

function call<T>(
  to: ReturnType<typeof upstream>,
  method: string,
  path: string,
  trace: Record<string, string>,
  body?: unknown,
  key?: string,
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { ...trace, ...(key ? { 'idempotency-key': key } : {}) };
  const payload = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (payload !== undefined || method !== 'GET') headers['content-length'] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
  return new Promise((resolve, reject) => {
    const req = request({ agent: to.agent, host: to.host, port: to.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.setTimeout(2000, () => req.destroy(new Error(`${method} ${path}: no answer within 2000 ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The saga's happy path in the shop's order (apps/order/domain/saga.ts): user, reserve, 2 writes, charge, 1 write, commit, 1 write. */
async function placeOrder(req: IncomingMessage, body: string): Promise<Answer> {
  const input = JSON.parse(body) as { items: Line[] };
  const userId = String(req.headers['x-user-id'] ?? '');
  const id = randomUUID();
  const trace = forwarded(req.headers);
  const items = input.items.map((i) => ({ productId: i.productId, quantity: i.quantity }));
  await sql('order-new', `INSERT INTO orders (id, user_id, status, step, items) VALUES ($1, $2, 'PENDING', 'NEW', $3)`, [id, userId, JSON.stringify(items)]);
  const user = await call(users, 'GET', `/users/${userId}`, trace);
  if (user.status !== 200) return { status: 502, body: { error: { code: 'USER_CHECK_FAILED', message: String(user.status) } } };
  const reserved = await call<{ items: Line[]; totalCents: number; currency: string }>(
    products,
    'POST',
    '/reservations',
    trace,
    { orderId: id, items },
    `order-${id}-reserve`,
  );
  if (reserved.status !== 201) return { status: 502, body: { error: { code: 'RESERVE_FAILED', message: String(reserved.status) } } };
  await sql('order-reserved', `UPDATE orders SET step = 'RESERVED', items = $2, total_cents = $3, currency = $4, updated_at = now() WHERE id = $1`, [
    id,
    JSON.stringify(reserved.body.items),
    reserved.body.totalCents,
    reserved.body.currency,
  ]);
  await sql('order-charging', `UPDATE orders SET step = 'CHARGING', updated_at = now() WHERE id = $1`, [id]);
  const charge = await call<{ id: string }>(
    payments,
    'POST',
    '/charges',
    trace,
    { amountCents: reserved.body.totalCents, currency: reserved.body.currency, source: 'tok_visa', reference: id },
    `order-${id}-charge`,
  );
  if (charge.status !== 201) return { status: 502, body: { error: { code: 'CHARGE_FAILED', message: String(charge.status) } } };
  await sql('order-charged', `UPDATE orders SET step = 'CHARGED', charge_id = $2, updated_at = now() WHERE id = $1`, [id, charge.body.id]);
  const committed = await call(products, 'POST', `/reservations/${id}/commit`, trace, undefined, `order-${id}-commit`);
  if (committed.status !== 200) return { status: 502, body: { error: { code: 'COMMIT_FAILED', message: String(committed.status) } } };
  const [row] = await sql('order-confirmed', `UPDATE orders SET status = 'CONFIRMED', step = 'DONE', updated_at = now() WHERE id = $1 RETURNING *`, [id]);
  return {
    status: 201,
    body: {
      id,
      userId,
      status: row!['status'],
      items: row!['items'],
      totalCents: row!['total_cents'],
      currency: row!['currency'],
      chargeId: row!['charge_id'],
      createdAt: row!['created_at'],
      updatedAt: row!['updated_at'],
    },
  };
}

function answer(res: ServerResponse, { status, body }: Answer): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const table = routes[role]!;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const path = req.url ?? '/';
    for (const [method, pattern, handler] of table) {
      const match = method === req.method ? pattern.exec(path) : null;
      if (!match) continue;
      handler(req, Buffer.concat(chunks).toString('utf8'), match.slice(1)).then(
        (a) => answer(res, a),
        (err: Error) => answer(res, { status: 500, body: { error: { code: 'INTERNAL', message: err.message } } }),
      );
      return;
    }
    answer(res, notFound('ROUTE_NOT_FOUND'));
  });
});
// Above the clients' 30 s idle timeout, as a kit server keeps connections (65 s).
server.keepAliveTimeout = 65_000;

await pool.query(SCHEMA[role]!);
if (role === 'user' && env['FLOOR_USER_ID'])
  await pool.query(`INSERT INTO users (id, email, name) VALUES ($1, $2, 'Bench') ON CONFLICT DO NOTHING`, [
    env['FLOOR_USER_ID'],
    `bench-${env['FLOOR_USER_ID']}@example.com`,
  ]);
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));

process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  for (const u of [users, products, payments]) u.agent.destroy();
  void pool.end().finally(() => process.exit(0));
});
