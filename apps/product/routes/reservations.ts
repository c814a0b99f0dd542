import { defineRoute, schemas, type AnyRoute } from '../../kit/index.js';
import { product } from '../../../contract/services.js';
import type { Line } from '../domain/catalog.js';
import type { Inventory } from '../domain/inventory.js';
import { productIdSchema } from './products.js';

const reserveBody = {
  type: 'object',
  additionalProperties: false,
  required: ['orderId', 'items'],
  properties: {
    orderId: schemas.uuid,
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['productId', 'quantity'],
        properties: { productId: productIdSchema, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
      },
    },
  },
} as const;

const orderParams = { type: 'object', required: ['orderId'], properties: { orderId: schemas.uuid } } as const;
// commit and release carry no body; an empty object is accepted for clients that always send one.
const emptyBody = { type: 'object', additionalProperties: false } as const;

/** Internal API for the order saga; idempotent per order id, so the mesh may retry every call. */
export function reservationRoutes(inventory: Inventory): AnyRoute[] {
  return [
    defineRoute<{ orderId: string; items: Line[] }>(product.routes.reserve, {
      body: reserveBody,
      handle: async ({ body }) => {
        const { reservation, created } = await inventory.reserve(body.orderId.toLowerCase(), body.items);
        return { status: created ? 201 : 200, body: reservation };
      },
    }),
    defineRoute<Record<string, never>, Record<string, unknown>, { orderId: string }>(product.routes.commit, {
      params: orderParams,
      body: emptyBody,
      bodyOptional: true,
      handle: async ({ params }) => ({ body: await inventory.commit(params.orderId.toLowerCase()) }),
    }),
    defineRoute<Record<string, never>, Record<string, unknown>, { orderId: string }>(product.routes.release, {
      params: orderParams,
      body: emptyBody,
      bodyOptional: true,
      handle: async ({ params }) => ({ body: await inventory.release(params.orderId.toLowerCase()) }),
    }),
  ];
}
