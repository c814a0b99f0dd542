import { defineRoute, requireUserId, schemas, type AnyRoute } from '../../kit/index.js';
import type { Accounts, User } from '../domain/users.js';

const registerBody = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password', 'name'],
  properties: {
    email: { type: 'string', maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$' },
    password: { type: 'string', minLength: 8, maxLength: 128 },
    name: { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: schemas.uuid } } as const;

export const userView = (u: User) => ({ id: u.id, email: u.email, name: u.name, createdAt: u.createdAt.toISOString() });

export function userRoutes(accounts: Accounts): AnyRoute[] {
  return [
    defineRoute<{ email: string; password: string; name: string }>({
      method: 'POST',
      path: '/users',
      body: registerBody,
      handle: async ({ body }) => {
        const user = await accounts.register(body);
        return { status: 201, body: userView(user), headers: { location: `/users/${user.id}` } };
      },
    }),
    // Declared before /users/{id} so "me" is not taken for an id.
    defineRoute({
      method: 'GET',
      path: '/users/me',
      handle: async ({ headers }) => ({ body: userView(await accounts.get(requireUserId(headers))) }),
    }),
    defineRoute<undefined, Record<string, unknown>, { id: string }>({
      method: 'GET',
      path: '/users/{id}',
      params: idParams,
      handle: async ({ params }) => ({ body: userView(await accounts.get(params.id.toLowerCase())) }),
    }),
  ];
}
