import { edgeAuth } from '../../contract/edge.js';
import { envNames } from '../../contract/env.js';
import type { ServiceDefinition } from '../kit/index.js';
import { Accounts, type TokenSettings } from './domain/users.js';
import { migrations } from './infrastructure/migrations.js';
import { loadSigningKeys } from './infrastructure/signing-keys.js';
import { PgUserStore } from './infrastructure/user-store.js';
import { jwksRoutes } from './routes/jwks.js';
import { sessionRoutes } from './routes/sessions.js';
import { userRoutes } from './routes/users.js';

/**
 * user: accounts, scrypt credentials and the JWT signing keys.
 * JWT_ISSUER and JWT_AUDIENCE must match the mesh's RequestAuthentication; the charts set them from the contract's edgeAuth.
 */
export const userService: ServiceDefinition<TokenSettings> = {
  name: 'user',
  migrations,
  readSettings: (env) => ({
    issuer: env.string(envNames.jwtIssuer, edgeAuth.issuer),
    audience: env.string(envNames.jwtAudience, edgeAuth.audiences[0]),
    ttlSeconds: env.int('JWT_TTL_SECONDS', 3600, { min: 60, max: 86_400 }),
  }),
  async create({ db, settings }) {
    const keys = await loadSigningKeys(db);
    const accounts = new Accounts(new PgUserStore(db), () => keys[0]!, settings);
    return { routes: [...userRoutes(accounts), ...sessionRoutes(accounts), ...jwksRoutes(keys)] };
  },
};
