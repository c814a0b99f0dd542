import { createHash, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** An Ed25519 signing key; the JWKS publishes the public half under `kid`. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: PublicJwk;
}

export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
}

export interface AccessTokenClaims {
  readonly iss: string;
  readonly aud: string;
  /** The user id; the mesh copies it into the x-user-id header. */
  readonly sub: string;
  readonly iat: number;
  readonly exp: number;
  readonly email: string;
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = publicKey.export({ format: 'jwk' }) as unknown as PublicJwk;
  const publicJwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  return { kid: thumbprint(publicJwk), privateKey, publicJwk };
}

/** RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order. */
export function thumbprint(jwk: PublicJwk): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))
    .digest('base64url');
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS (RFC 7515) with alg EdDSA (RFC 8037), which Envoy's jwt_authn verifies. */
export function signAccessToken(key: SigningKey, claims: AccessTokenClaims): string {
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid: key.kid })}.${b64(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key.privateKey).toString('base64url')}`;
}

/** The JSON Web Key Set of all keys that may have signed a live token. */
export function jwks(keys: readonly SigningKey[]): { keys: Array<PublicJwk & { kid: string; alg: 'EdDSA'; use: 'sig' }> } {
  return { keys: keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: 'EdDSA', use: 'sig' })) };
}

/**
 * Verifies a token against a JWKS the way the mesh does (signature, kid, expiry,
 * issuer, audience). The services rely on the mesh; this is for tests and tools.
 */
export function verifyAccessToken(token: string, set: ReturnType<typeof jwks>, expected: { iss: string; aud: string; now?: number }): AccessTokenClaims {
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) throw new Error('not a compact JWS');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string; kid?: string };
  const jwk = set.keys.find((k) => k.kid === header.kid);
  if (header.alg !== 'EdDSA' || !jwk) throw new Error(`unknown key or algorithm (${header.alg}, ${header.kid})`);
  const publicKey = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
  if (!verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url'))) throw new Error('bad signature');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as AccessTokenClaims;
  const now = expected.now ?? Math.floor(Date.now() / 1000);
  if (claims.exp <= now) throw new Error('expired');
  if (claims.iss !== expected.iss || claims.aud !== expected.aud) throw new Error('wrong issuer or audience');
  return claims;
}
