import { processedEventsMigration, type Migration } from '../../kit/index.js';

export const migrations: readonly Migration[] = [
  {
    id: '0001_notifications',
    sql: `
      CREATE TABLE notifications (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL,
        order_id uuid NOT NULL,
        event_id uuid NOT NULL UNIQUE,
        type text NOT NULL,
        message text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC);
    `,
  },
  processedEventsMigration,
];
