import { defineRoute, requireUserId, schemas, type AnyRoute } from '../../kit/index.js';
import { pathOf } from '../../../contract/route.js';
import { user } from '../../../contract/services.js';
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
    defineRoute<{ email: string; password: string; name: string }>(user.routes.register, {
      body: registerBody,
      handle: async ({ body }) => {
        const account = await accounts.register(body);
        return { status: 201, body: userView(account), headers: { location: pathOf(user.routes.get, { id: account.id }) } };
      },
    }),
    // Declared before /users/{id} so "me" is not taken for an id.
    defineRoute(user.routes.me, {
      handle: async ({ headers }) => ({ body: userView(await accounts.get(requireUserId(headers))) }),
    }),
    defineRoute<undefined, Record<string, unknown>, { id: string }>(user.routes.get, {
      params: idParams,
      handle: async ({ params }) => ({ body: userView(await accounts.get(params.id.toLowerCase())) }),
    }),
  ];
}
