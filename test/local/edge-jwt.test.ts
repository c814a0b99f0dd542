import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { edgeAuth } from '../../charts/platform.js';
import { generateSigningKey, jwks, signAccessToken, type AccessTokenClaims } from '../../apps/user/domain/tokens.js';
import { verifyEdgeJwt } from '../../local/dev/edge-jwt.js';

// The local edge's JWT parsing against what Istio's RequestAuthentication (Envoy jwt_authn,
// jwt_verify_lib) accepts and rejects.

const key = generateSigningKey();
const set = jwks([key]);
const provider = { issuer: edgeAuth.issuer, audiences: edgeAuth.audiences };
const now = Math.floor(Date.now() / 1000);
const claims = (overrides: Record<string, unknown> = {}) =>
  ({
    iss: edgeAuth.issuer,
    aud: edgeAuth.audiences[0],
    sub: randomUUID(),
    iat: now,
    exp: now + 600,
    email: 'jwt@example.org',
    ...overrides,
  }) as unknown as AccessTokenClaims;
const reason = (token: string, at = now) => {
  try {
    verifyEdgeJwt(token, set, provider, at);
    return 'accepted';
  } catch (error) {
    return (error as Error).message;
  }
};
const malformed = 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections';

describe('the local edge parses tokens as Istio does', () => {
  it('accepts a valid token and returns its sub', () => {
    const sub = randomUUID();
    expect(verifyEdgeJwt(signAccessToken(key, claims({ sub })), set, provider, now).sub).toBe(sub);
  });

  it('rejects a valid token with a trailing dot, and with two more sections', () => {
    const good = signAccessToken(key, claims());
    expect(reason(`${good}.`)).toBe(malformed);
    expect(reason(`${good}.x.y`)).toBe(malformed);
    expect(reason(`${good}..`)).toBe(malformed);
  });

  it('rejects an empty section (alg none style) and bad base64url', () => {
    const [h, p] = signAccessToken(key, claims()).split('.') as [string, string];
    expect(reason(`${h}.${p}.`)).toBe(malformed);
    expect(reason(`${h}.${p}.not*base64`)).toBe('Jwt signature is an invalid Base64url encoded');
  });

  it('accepts an aud array that contains the audience, and rejects one that does not', () => {
    expect(reason(signAccessToken(key, claims({ aud: ['another-api', edgeAuth.audiences[0]] })))).toBe('accepted');
    expect(reason(signAccessToken(key, claims({ aud: ['another-api'] })))).toBe('Audiences in Jwt are not allowed');
    expect(reason(signAccessToken(key, claims({ aud: 'another-api' })))).toBe('Audiences in Jwt are not allowed');
    expect(reason(signAccessToken(key, claims({ aud: [42] })))).toBe('Jwt payload [aud] field is not a string or string list');
  });

  it('compares audiences without scheme and trailing slash, as jwt_verify_lib does', () => {
    expect(reason(signAccessToken(key, claims({ aud: `https://${edgeAuth.audiences[0]}/` })))).toBe('accepted');
  });

  it("checks exp and nbf with Envoy's 60 s clock skew", () => {
    expect(reason(signAccessToken(key, claims({ exp: now - 30 })))).toBe('accepted');
    expect(reason(signAccessToken(key, claims({ exp: now - 61 })))).toBe('Jwt is expired');
    expect(reason(signAccessToken(key, claims({ nbf: now + 30 })))).toBe('accepted');
    expect(reason(signAccessToken(key, claims({ nbf: now + 61 })))).toBe('Jwt not yet valid');
  });

  it('rejects another issuer, an unknown kid and a foreign key', () => {
    expect(reason(signAccessToken(key, claims({ iss: 'someone-else' })))).toBe('Jwt issuer is not configured');
    expect(reason(signAccessToken({ ...generateSigningKey() }, claims()))).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect(reason(signAccessToken({ ...generateSigningKey(), kid: key.kid }, claims()))).toBe('Jwt verification fails');
  });
});
