import type { ServiceDefinition } from '../kit/index.js';
import { Inventory } from './domain/inventory.js';
import { PgInventoryStore } from './infrastructure/inventory-store.js';
import { migrations } from './infrastructure/migrations.js';
import { productRoutes } from './routes/products.js';
import { reservationRoutes } from './routes/reservations.js';

/** product: catalog, inventory and reservations that never oversell. */
export const productService: ServiceDefinition = {
  name: 'product',
  migrations,
  create({ db }) {
    const inventory = new Inventory(new PgInventoryStore(db));
    return { routes: [...productRoutes(inventory), ...reservationRoutes(inventory)] };
  },
};
