import { randomUUID } from 'node:crypto';
import type { Database, EventEnvelope, Queryable } from '../../kit/index.js';
import { messageFor, type Notification, type OrderEventData } from '../domain/notifications.js';

interface Row {
  id: string;
  user_id: string;
  order_id: string;
  event_id: string;
  type: string;
  message: string;
  created_at: Date;
}

const toNotification = (r: Row): Notification => ({
  id: r.id,
  userId: r.user_id,
  orderId: r.order_id,
  eventId: r.event_id,
  type: r.type,
  message: r.message,
  createdAt: r.created_at,
});

/** Stores the notification for an event inside the consumer's transaction (the one that records the event id). */
export async function storeNotification(tx: Queryable, event: EventEnvelope<OrderEventData>): Promise<void> {
  const message = messageFor(event);
  if (message === undefined) return;
  await tx.query(
    'INSERT INTO notifications (id, user_id, order_id, event_id, type, message) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING',
    [randomUUID(), event.data.userId, event.data.orderId, event.eventId, event.type, message],
  );
}

export async function listNotifications(db: Database, userId: string, limit: number): Promise<Notification[]> {
  const rows = await db.query<Row>('SELECT * FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2', [userId, limit]);
  return rows.map(toNotification);
}
