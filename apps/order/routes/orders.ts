import { AppError, defineRoute, idempotencyKeyOf, requireUserId, schemas, type AnyRoute } from '../../kit/index.js';
import { pathOf } from '../../../contract/route.js';
import { order as orderApi } from '../../../contract/services.js';
import { orderView } from '../domain/orders.js';
import type { Orders, PlaceOrder } from '../domain/place-order.js';

const placeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['productId', 'quantity'],
        properties: { productId: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' }, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
      },
    },
    paymentToken: { type: 'string', pattern: '^tok_[a-z0-9_]{1,60}$', default: 'tok_visa' },
  },
} as const;

/** One line per product: a second line for the same product is refused, not merged (the client meant one of them). */
function requireDistinctProducts(items: PlaceOrder['items']): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.productId))
      throw new AppError(400, 'DUPLICATE_PRODUCT', `product '${item.productId}' is in the order more than once: send one line with the total quantity`, [
        { path: `body/items/${i}/productId`, message: `repeats '${item.productId}'` },
      ]);
    seen.add(item.productId);
  });
}

export function orderRoutes(orders: Orders): AnyRoute[] {
  return [
    defineRoute<PlaceOrder>(orderApi.routes.place, {
      body: placeBody,
      handle: async ({ body, headers }) => {
        requireDistinctProducts(body.items);
        const userId = requireUserId(headers);
        const { order, created } = await orders.place(userId, body, idempotencyKeyOf(headers));
        // 201 for a new order that reached its end, 202 while a compensation is still to finish, 200 for a repeat.
        const status = !created ? 200 : order.status === 'PENDING' ? 202 : 201;
        return { status, body: orderView(order), headers: { location: pathOf(orderApi.routes.get, { id: order.id }) } };
      },
    }),
    defineRoute<undefined, { limit: number }>(orderApi.routes.list, {
      query: { type: 'object', properties: { limit: schemas.limit(20, 100) } },
      handle: async ({ headers, query }) => ({ body: { orders: (await orders.list(requireUserId(headers), query.limit)).map(orderView) } }),
    }),
    defineRoute<undefined, Record<string, unknown>, { id: string }>(orderApi.routes.get, {
      params: { type: 'object', required: ['id'], properties: { id: schemas.uuid } },
      handle: async ({ headers, params }) => ({ body: orderView(await orders.get(requireUserId(headers), params.id.toLowerCase())) }),
    }),
  ];
}
