import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../apps/user/domain/passwords.js';
import { generateSigningKey, jwks, signAccessToken, thumbprint, verifyAccessToken } from '../../apps/user/domain/tokens.js';

describe('passwords', () => {
  it('hash with scrypt and a fresh salt each time, and verify only the right password', async () => {
    const a = await hashPassword('tr0ub4dor&3');
    const b = await hashPassword('tr0ub4dor&3');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('tr0ub4dor&3', a)).toBe(true);
    expect(await verifyPassword('tr0ub4dor&4', a)).toBe(false);
  });

  it('reject stored values that are not scrypt hashes instead of throwing', async () => {
    expect(await verifyPassword('x', 'plaintext')).toBe(false);
    expect(await verifyPassword('x', 'bcrypt$1$2$3$4$5')).toBe(false);
  });
});

describe('access tokens', () => {
  const key = generateSigningKey();
  const set = jwks([key]);
  const now = 1_800_000_000;
  const claims = { iss: 'meshkit-user', aud: 'meshkit', sub: 'u-1', iat: now, exp: now + 60, email: 'a@b.co' };

  it('name the key by its RFC 7638 thumbprint and publish only the public half', () => {
    expect(key.kid).toBe(thumbprint(key.publicJwk));
    expect(set.keys[0]).toEqual({ kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x, kid: key.kid, alg: 'EdDSA', use: 'sig' });
  });

  it('verify against the JWKS, and fail when tampered with, expired, or for another audience', () => {
    const token = signAccessToken(key, claims);
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({ alg: 'EdDSA', typ: 'JWT', kid: key.kid });
    expect(verifyAccessToken(token, set, { iss: 'meshkit-user', aud: 'meshkit', now })).toEqual(claims);
    const [h, , s] = token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${s}`;
    expect(() => verifyAccessToken(forged, set, { iss: 'meshkit-user', aud: 'meshkit', now })).toThrow('bad signature');
    expect(() => verifyAccessToken(token, set, { iss: 'meshkit-user', aud: 'meshkit', now: now + 61 })).toThrow('expired');
    expect(() => verifyAccessToken(token, set, { iss: 'meshkit-user', aud: 'other', now })).toThrow('audience');
    expect(() => verifyAccessToken(token, jwks([generateSigningKey()]), { iss: 'meshkit-user', aud: 'meshkit', now })).toThrow('unknown key');
  });
});
