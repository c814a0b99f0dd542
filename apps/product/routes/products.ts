import { defineRoute, schemas, type AnyRoute } from '../../kit/index.js';
import { product } from '../../../contract/services.js';
import type { Inventory } from '../domain/inventory.js';

export const productIdSchema = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' } as const;

export function productRoutes(inventory: Inventory): AnyRoute[] {
  return [
    defineRoute<undefined, { limit: number; offset: number }>(product.routes.list, {
      query: { type: 'object', properties: { limit: schemas.limit(50, 100), offset: { type: 'integer', minimum: 0, maximum: 100_000, default: 0 } } },
      handle: async ({ query }) => ({ body: { products: await inventory.listProducts(query.limit, query.offset), limit: query.limit, offset: query.offset } }),
    }),
    defineRoute<undefined, Record<string, unknown>, { id: string }>(product.routes.get, {
      params: { type: 'object', required: ['id'], properties: { id: productIdSchema } },
      handle: async ({ params }) => ({ body: await inventory.getProduct(params.id) }),
    }),
  ];
}
