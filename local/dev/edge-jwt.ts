/**
 * JWT verification of the local edge, with the semantics of Istio's RequestAuthentication
 * (Envoy's jwt_authn filter and its jwt_verify_lib), not those of a general JWT library:
 * - a token is exactly three non-empty base64url sections separated by exactly two dots
 *   (`<jwt>.` and `<jwt>.x.y` are malformed, as jwt_verify_lib counts the dots);
 * - the header names `alg`; a key of the JWKS is tried when its `kid` and `alg` match the
 *   token's (or it has none), and one of them must verify the signature (EdDSA here);
 * - `exp` and `nbf` are checked with Envoy's default clock skew of 60 s;
 * - `iss` must be the provider's issuer; `aud` may be a string or an array of strings, and
 *   one of them must be among the provider's audiences (scheme and trailing slash ignored,
 *   as jwt_verify_lib does).
 * The reasons are Envoy's own status texts, so a 401 reads the same locally and at the gateway.
 */
import { createPublicKey, verify as verifySignature } from 'node:crypto';

/** One key of a JSON Web Key Set, as the user service publishes it (OKP / Ed25519). */
export interface EdgeJwk {
  readonly kty: string;
  readonly crv?: string;
  readonly x?: string;
  readonly kid?: string;
  readonly alg?: string;
}

export interface EdgeJwks {
  readonly keys: readonly EdgeJwk[];
}

export interface JwtProvider {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Envoy's `clock_skew_seconds`. @default 60 */
  readonly clockSkewSeconds?: number;
}

export interface VerifiedJwt {
  readonly kid: string | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
  /** The `sub` claim when it is a string: what the gateway copies into x-user-id. */
  readonly sub: string | undefined;
}

/** A token that does not verify; `message` is Envoy's status text for the reason. */
export class JwtRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwtRejected';
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

function decodeSection(section: string, what: 'header' | 'payload' | 'signature'): Buffer {
  if (!BASE64URL.test(section)) throw new JwtRejected(`Jwt ${what} is an invalid Base64url encoded`);
  return Buffer.from(section.replace(/=+$/, ''), 'base64url');
}

function parseObject(bytes: Buffer, what: 'header' | 'payload'): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new JwtRejected(`Jwt ${what} is an invalid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwtRejected(`Jwt ${what} is an invalid JSON`);
  return value as Record<string, unknown>;
}

/** The token's header (for its `kid`), or undefined when it is not even that far well-formed. */
export function peekHeader(token: string): { readonly kid?: string; readonly alg?: string } | undefined {
  try {
    const header = parseObject(decodeSection(token.split('.')[0] ?? '', 'header'), 'header');
    return { kid: typeof header['kid'] === 'string' ? header['kid'] : undefined, alg: typeof header['alg'] === 'string' ? header['alg'] : undefined };
  } catch {
    return undefined;
  }
}

/** jwt_verify_lib compares audiences without an http(s) scheme and a trailing slash. */
const normalizeAudience = (aud: string) => aud.replace(/^https?:\/\//, '').replace(/\/$/, '');

function audiencesOf(payload: Record<string, unknown>): string[] {
  const aud = payload['aud'];
  if (aud === undefined) return [];
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return aud as string[];
  throw new JwtRejected('Jwt payload [aud] field is not a string or string list');
}

function numericClaim(payload: Record<string, unknown>, name: 'exp' | 'nbf' | 'iat'): number | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new JwtRejected(`Jwt payload [${name}] field is not an integer`);
  return value;
}

function keyVerifies(jwk: EdgeJwk, alg: string, input: Buffer, signature: Buffer): boolean {
  if (alg !== 'EdDSA' || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') return false;
  try {
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    return verifySignature(null, input, key, signature);
  } catch {
    return false;
  }
}

/** Verifies `token` against `jwks` for `provider`; throws JwtRejected with Envoy's reason. */
export function verifyEdgeJwt(token: string, jwks: EdgeJwks, provider: JwtProvider, nowSeconds = Math.floor(Date.now() / 1000)): VerifiedJwt {
  const sections = token.split('.');
  if (sections.length !== 3 || sections.some((s) => s.length === 0)) {
    throw new JwtRejected('Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections');
  }
  const [h, p, s] = sections as [string, string, string];
  const header = parseObject(decodeSection(h, 'header'), 'header');
  const payload = parseObject(decodeSection(p, 'payload'), 'payload');
  const signature = decodeSection(s, 'signature');
  const alg = header['alg'];
  if (typeof alg !== 'string') throw new JwtRejected('Jwt header [alg] field is required and must be a string');
  if (alg === 'none' || !['EdDSA', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512'].includes(alg)) {
    throw new JwtRejected('Jwt header [alg] is not supported');
  }
  const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;

  // In Envoy's order: the issuer picks the provider, then time, audiences, key and signature.
  if (payload['iss'] !== provider.issuer) throw new JwtRejected('Jwt issuer is not configured');
  const skew = provider.clockSkewSeconds ?? 60;
  const exp = numericClaim(payload, 'exp');
  const nbf = numericClaim(payload, 'nbf');
  numericClaim(payload, 'iat');
  if (nbf !== undefined && nbf > nowSeconds + skew) throw new JwtRejected('Jwt not yet valid');
  if (exp !== undefined && exp + skew < nowSeconds) throw new JwtRejected('Jwt is expired');
  if (provider.audiences.length > 0) {
    const allowed = new Set(provider.audiences.map(normalizeAudience));
    if (!audiencesOf(payload).some((a) => allowed.has(normalizeAudience(a)))) throw new JwtRejected('Audiences in Jwt are not allowed');
  }

  const candidates = jwks.keys.filter((k) => (kid === undefined || k.kid === undefined || k.kid === kid) && (k.alg === undefined || k.alg === alg));
  if (candidates.length === 0) throw new JwtRejected("Jwks doesn't have key to match kid or alg from Jwt");
  const input = Buffer.from(`${h}.${p}`);
  if (!candidates.some((k) => keyVerifies(k, alg, input, signature))) throw new JwtRejected('Jwt verification fails');
  const sub = payload['sub'];
  return { kid, claims: payload, sub: typeof sub === 'string' ? sub : undefined };
}
