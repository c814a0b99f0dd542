import type { IncomingHttpHeaders } from 'node:http';
import { UnauthenticatedError } from './errors.js';

/**
 * The header that carries the signed-in user's id (the JWT `sub` claim).
 *
 * Services never verify JWTs themselves. At the edge, Istio's RequestAuthentication
 * verifies the token against the user service's JWKS and copies the claim into
 * this header (`jwtRules[].outputClaimToHeaders: [{ header: 'x-user-id', claim: 'sub' }]`).
 * Envoy only sets the header when a token is valid, so the routes that read it
 * need an AuthorizationPolicy requiring a request principal; otherwise a client
 * could send the header itself.
 */
export const USER_ID_HEADER = 'x-user-id';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The caller's user id, or 401 UNAUTHENTICATED when the mesh set none. */
export function requireUserId(headers: IncomingHttpHeaders): string {
  const value = headers[USER_ID_HEADER];
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw new UnauthenticatedError(`sign in: the ${USER_ID_HEADER} header (set by the mesh from a verified JWT) is missing or not a user id`);
  }
  return value.toLowerCase();
}
