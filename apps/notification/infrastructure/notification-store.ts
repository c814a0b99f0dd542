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

/**
 * The same for new events of one batch, in one statement (their order kept in the rows' insertion).
 * No ON CONFLICT: the consumer passes only events whose ids its transaction has just recorded for the
 * first time, so none has a notification yet, and the speculative insertion of ON CONFLICT costs per
 * row. Should one exist all the same, the unique event_id fails the batch and the consumer handles
 * its events one at a time (storeNotification, which tolerates it).
 */
export async function storeNotifications(tx: Queryable, events: ReadonlyArray<EventEnvelope<OrderEventData>>): Promise<void> {
  const rows = events.flatMap((event) => {
    const message = messageFor(event);
    return message === undefined ? [] : [[randomUUID(), event.data.userId, event.data.orderId, event.eventId, event.type, message] as const];
  });
  if (rows.length === 0) return;
  const column = (i: number) => rows.map((r) => r[i]);
  await tx.query(
    `INSERT INTO notifications (id, user_id, order_id, event_id, type, message)
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])`,
    [column(0), column(1), column(2), column(3), column(4), column(5)],
  );
}

export async function listNotifications(db: Database, userId: string, limit: number): Promise<Notification[]> {
  const rows = await db.query<Row>('SELECT * FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id LIMIT $2', [userId, limit]);
  return rows.map(toNotification);
}
