import { defineRoute, type AnyRoute } from '../../kit/index.js';
import { user } from '../../../contract/services.js';
import { jwks, type SigningKey } from '../domain/tokens.js';

export function jwksRoutes(keys: readonly SigningKey[]): AnyRoute[] {
  const body = jwks(keys);
  return [
    defineRoute(user.routes.jwks, {
      // Envoy caches the set itself; a short max-age lets a new key appear within minutes.
      handle: async () => ({ body, headers: { 'cache-control': 'public, max-age=300' } }),
    }),
  ];
}
