import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../apps/kit/index.js';
import { userService } from '../../apps/user/app.js';
import { verifyAccessToken } from '../../apps/user/domain/tokens.js';
import { expectError, expectNo5xxForJunk, oversized, request, startForTest } from './support.js';

let service: RunningService;
const call = (method: string, path: string, options?: Parameters<typeof request>[3]) => request(service.url, method, path, options);

beforeAll(async () => {
  service = await startForTest(userService);
}, 60_000);
afterAll(() => service?.stop());

const ada = { email: 'Ada@Example.org', password: 'correct horse battery', name: 'Ada Lovelace' };

describe('user service', () => {
  let adaId: string;

  it('registers a user and never returns the password hash', async () => {
    const res = await call('POST', '/users', { json: ada });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), email: 'ada@example.org', name: 'Ada Lovelace', createdAt: expect.any(String) });
    expect(res.headers.get('location')).toBe(`/users/${res.body.id}`);
    expect(res.text).not.toContain('scrypt');
    adaId = res.body.id;
  });

  it('refuses a second account for the same email in any letter case with 409 EMAIL_TAKEN', async () => {
    expectError(await call('POST', '/users', { json: { ...ada, email: 'ADA@example.ORG' } }), 409, 'EMAIL_TAKEN');
  });

  it('logs in with an EdDSA JWT whose sub is the user id and which verifies against the JWKS', async () => {
    const res = await call('POST', '/sessions', { json: { email: 'ada@example.org', password: ada.password } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600 });
    const jwks = await call('GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: expect.any(String) })]);
    expect(jwks.text).not.toMatch(/"d"\s*:/);
    const claims = verifyAccessToken(res.body.accessToken, jwks.body, { iss: 'meshkit-user', aud: 'meshkit' });
    expect(claims.sub).toBe(adaId);
  });

  it('answers a wrong password and an unknown email alike: 401 INVALID_CREDENTIALS', async () => {
    expectError(await call('POST', '/sessions', { json: { email: 'ada@example.org', password: 'wrong password' } }), 401, 'INVALID_CREDENTIALS');
    expectError(await call('POST', '/sessions', { json: { email: 'nobody@example.org', password: 'whatever1' } }), 401, 'INVALID_CREDENTIALS');
  });

  it('returns the signed-in user on GET /users/me from the x-user-id header the mesh sets', async () => {
    const res = await call('GET', '/users/me', { headers: { 'x-user-id': adaId } });
    expect(res.status).toBe(200);
    expect(res.body.email).toBe('ada@example.org');
  });

  it('answers GET /users/me without x-user-id (or with garbage in it) with 401 UNAUTHENTICATED', async () => {
    expectError(await call('GET', '/users/me'), 401, 'UNAUTHENTICATED');
    expectError(await call('GET', '/users/me', { headers: { 'x-user-id': 'admin' } }), 401, 'UNAUTHENTICATED');
  });

  it('gets a user by id and answers unknown ids with 404 USER_NOT_FOUND, malformed ids with 400', async () => {
    expect((await call('GET', `/users/${adaId}`)).body.id).toBe(adaId);
    expect((await call('HEAD', `/users/${adaId}`)).status).toBe(200);
    expectError(await call('GET', '/users/00000000-0000-4000-8000-000000000000'), 404, 'USER_NOT_FOUND');
    expectError(await call('GET', '/users/not-a-uuid'), 400, 'VALIDATION_FAILED');
  });

  it('rejects bad registrations with 400 VALIDATION_FAILED and names each problem', async () => {
    const res = await call('POST', '/users', { json: { email: 'not-an-email', password: 'short', name: 42, role: 'admin' } });
    expectError(res, 400, 'VALIDATION_FAILED');
    const paths = (res.body.error.details as Array<{ path: string }>).map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['body/email', 'body/password', 'body/name', 'body']));
    expectError(await call('POST', '/users', { json: { email: 'a@b.co' } }), 400, 'VALIDATION_FAILED');
    expectError(await call('POST', '/users', { json: [ada] }), 400, 'VALIDATION_FAILED');
    expectError(await call('POST', '/users'), 400, 'VALIDATION_FAILED');
  });

  it('rejects malformed JSON with 400 INVALID_JSON, oversized bodies with 413, non-JSON bodies with 415', async () => {
    expectError(await call('POST', '/users', { raw: '{"email": "a@b.co",' }), 400, 'INVALID_JSON');
    expectError(await call('POST', '/sessions', { raw: 'null' }), 400, 'INVALID_JSON');
    expectError(await call('POST', '/users', { raw: oversized() }), 413, 'PAYLOAD_TOO_LARGE');
    expectError(
      await call('POST', '/users', { raw: 'email=a@b.co', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('answers unknown routes with 404 NOT_FOUND and wrong methods with 405 and an Allow header', async () => {
    expectError(await call('GET', '/nope'), 404, 'NOT_FOUND');
    const res = await call('DELETE', `/users/${adaId}`);
    expectError(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect((await call('PUT', '/sessions', { json: {} })).headers.get('allow')).toBe('POST');
    expectError(await call('GET', '/users/%E0%A4%A'), 400, 'BAD_REQUEST');
  });
});

describe('junk', () => {
  it('answers junk on every declared route with a 4xx and the error shape, never a 5xx', async () => {
    expect(await expectNo5xxForJunk(service.url, 'user')).toBeGreaterThan(20);
  });
});
