import { randomUUID } from 'node:crypto';
import type { Database } from '../../kit/index.js';
import type { User, UserRecord, UserStore } from '../domain/users.js';

interface Row {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  created_at: Date;
}

const toUser = (r: Row): User => ({ id: r.id, email: r.email, name: r.name, createdAt: r.created_at });

export class PgUserStore implements UserStore {
  constructor(private readonly db: Database) {}

  async insert(user: { email: string; name: string; passwordHash: string }): Promise<User | undefined> {
    const [row] = await this.db.query<Row>(
      'INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING RETURNING *',
      [randomUUID(), user.email, user.name, user.passwordHash],
    );
    return row ? toUser(row) : undefined;
  }

  async findByEmail(email: string): Promise<UserRecord | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM users WHERE email = $1', [email]);
    return row ? { ...toUser(row), passwordHash: row.password_hash } : undefined;
  }

  async findById(id: string): Promise<User | undefined> {
    const [row] = await this.db.query<Row>('SELECT * FROM users WHERE id = $1', [id]);
    return row ? toUser(row) : undefined;
  }
}
