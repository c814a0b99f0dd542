/**
 * One handler served with and without the kit, for the kit-overhead benchmark.
 * Started (bundled) as a child process by bench/services.ts; reports its port
 * over the IPC channel and serves until SIGTERM.
 *
 * ROUTE=read    GET /products/{id} (product's Inventory; STORE=postgres or memory)
 * ROUTE=order   POST /orders (order's Orders + OrderSaga calling USER_URL, PRODUCT_URL, PAYMENT_URL)
 *
 * VARIANT=bare               plain Express 5: the same domain call, JSON out, 404/500 mapped by hand
 * VARIANT=kit                createHttpApp as startService builds the public app: trace context, chaos,
 *                            validation, RED metrics (with prom-client's default metrics), access log
 * VARIANT=kit-no-metrics     the same without HttpMetrics
 * VARIANT=kit-no-log         the same without the access log line
 * VARIANT=kit-no-validation  the same with the routes' schemas removed
 * VARIANT=kit-no-async-context  the same without entering the request's async context (AsyncLocalStorage)
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Request, type Response } from 'express';
import {
  AppError,
  ChaosSwitch,
  createHttpApp,
  createLogger,
  disableAsyncContextForBenchmark,
  HttpMetrics,
  migrate,
  openDatabase,
  ServiceClient,
  type AnyRoute,
  type Database,
} from '../../apps/kit/index.js';
import { orderView } from '../../apps/order/domain/orders.js';
import { Orders } from '../../apps/order/domain/place-order.js';
import { OrderSaga } from '../../apps/order/domain/saga.js';
import { migrations as orderMigrations } from '../../apps/order/infrastructure/migrations.js';
import { OrderStore } from '../../apps/order/infrastructure/order-store.js';
import { HttpParticipants } from '../../apps/order/infrastructure/participants.js';
import { orderRoutes } from '../../apps/order/routes/orders.js';
import type { Product } from '../../apps/product/domain/catalog.js';
import { Inventory, type InventoryStore } from '../../apps/product/domain/inventory.js';
import { PgInventoryStore } from '../../apps/product/infrastructure/inventory-store.js';
import { migrations as productMigrations } from '../../apps/product/infrastructure/migrations.js';
import { productRoutes } from '../../apps/product/routes/products.js';

const env = process.env;
const route = env['ROUTE'] ?? 'read';
const variant = env['VARIANT'] ?? 'kit';
const VARIANTS = ['bare', 'kit', 'kit-no-metrics', 'kit-no-log', 'kit-no-validation', 'kit-no-async-context'];
if (!VARIANTS.includes(variant) || !['read', 'order'].includes(route)) {
  process.stderr.write(`VARIANT must be one of ${VARIANTS.join(', ')} and ROUTE read or order\n`);
  process.exit(2);
}
const serviceName = route === 'read' ? 'product' : 'order';
if (variant === 'kit-no-async-context') disableAsyncContextForBenchmark();
const logger = createLogger(serviceName, 'info');

/** A catalog in memory: the read handler without a database round trip, to isolate what the HTTP layer costs. */
function memoryStore(): InventoryStore {
  const product: Product = {
    id: 'espresso-beans',
    name: 'Espresso beans 1 kg',
    description: 'Dark roast, chocolate and hazelnut',
    priceCents: 2490,
    currency: 'EUR',
    available: 200,
  };
  const unsupported = () => Promise.reject(new Error('not in the read benchmark'));
  return {
    findProduct: async (id) => (id === product.id ? product : undefined),
    listProducts: async () => [product],
    reserve: unsupported,
    settle: unsupported,
  };
}

async function database(migrations: Parameters<typeof migrate>[1]): Promise<Database> {
  const url = env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is required');
  const db = await openDatabase({ url, pgliteDataDir: 'memory://', logger });
  await migrate(db, migrations, logger);
  return db;
}

/** Maps the domain's errors as a hand-written Express app would: status and code, nothing else. */
function bareError(res: Response, err: unknown): void {
  if (err instanceof AppError) res.status(err.status).json({ error: { code: err.code, message: err.message } });
  else res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
}

function kitApp(routes: AnyRoute[]): Express {
  const withSchemas = variant === 'kit-no-validation' ? routes.map((r) => ({ ...r, body: undefined, query: undefined, params: undefined })) : routes;
  return createHttpApp({
    routes: withSchemas,
    logger,
    ...(variant === 'kit-no-metrics' ? {} : { metrics: new HttpMetrics(serviceName) }),
    chaos: new ChaosSwitch(),
    accessLog: variant !== 'kit-no-log',
  });
}

async function readApp(): Promise<Express> {
  const store = env['STORE'] === 'memory' ? memoryStore() : new PgInventoryStore(await database(productMigrations));
  const inventory = new Inventory(store);
  if (variant !== 'bare') return kitApp(productRoutes(inventory));
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/products/:id', async (req: Request<{ id: string }>, res: Response) => {
    try {
      res.json(await inventory.getProduct(req.params.id));
    } catch (err) {
      bareError(res, err);
    }
  });
  return app;
}

async function orderApp(): Promise<Express> {
  const db = await database(orderMigrations);
  const timeout = Number(env['HTTP_CLIENT_TIMEOUT_MS'] ?? 2000);
  const url = (name: string) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is required`);
    return value;
  };
  const participants = new HttpParticipants(
    new ServiceClient('user', url('USER_URL'), timeout),
    new ServiceClient('product', url('PRODUCT_URL'), timeout),
    new ServiceClient('payment', url('PAYMENT_URL'), timeout),
  );
  const store = new OrderStore(db);
  const orders = new Orders(store, new OrderSaga(participants, store, logger.child({ component: 'saga' })));
  if (variant !== 'bare') return kitApp(orderRoutes(orders));
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/orders', express.json({ limit: '16kb' }), async (req: Request, res: Response) => {
    try {
      const userId = String(req.headers['x-user-id']).toLowerCase();
      const body = req.body as { items: Array<{ productId: string; quantity: number }>; paymentToken?: string };
      const { order } = await orders.place(userId, { items: body.items, paymentToken: body.paymentToken ?? 'tok_visa' }, undefined);
      res
        .status(order.status === 'PENDING' ? 202 : 201)
        .set('location', `/orders/${order.id}`)
        .json(orderView(order));
    } catch (err) {
      bareError(res, err);
    }
  });
  return app;
}

const app = route === 'read' ? await readApp() : await orderApp();
const server = createServer(app);
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(0, '127.0.0.1');
await once(server, 'listening');
process.send?.({ port: (server.address() as AddressInfo).port, pid: process.pid });
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
