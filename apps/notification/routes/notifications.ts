import { defineRoute, requireUserId, schemas, type AnyRoute, type Database } from '../../kit/index.js';
import { notification } from '../../../contract/services.js';
import { listNotifications } from '../infrastructure/notification-store.js';

export function notificationRoutes(db: Database): AnyRoute[] {
  return [
    defineRoute<undefined, { limit: number }>(notification.routes.list, {
      query: { type: 'object', properties: { limit: schemas.limit(20, 100) } },
      handle: async ({ headers, query }) => {
        const notifications = await listNotifications(db, requireUserId(headers), query.limit);
        return {
          body: {
            notifications: notifications.map((n) => ({ id: n.id, type: n.type, orderId: n.orderId, message: n.message, createdAt: n.createdAt.toISOString() })),
          },
        };
      },
    }),
  ];
}
