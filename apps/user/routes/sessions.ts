import { defineRoute, type AnyRoute } from '../../kit/index.js';
import { user } from '../../../contract/services.js';
import type { Accounts } from '../domain/users.js';

const loginBody = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'password'],
  properties: {
    email: { type: 'string', minLength: 1, maxLength: 254 },
    password: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;

export function sessionRoutes(accounts: Accounts): AnyRoute[] {
  return [
    defineRoute<{ email: string; password: string }>(user.routes.login, {
      body: loginBody,
      handle: async ({ body }) => ({ status: 201, body: await accounts.login(body), headers: { 'cache-control': 'no-store' } }),
    }),
  ];
}
