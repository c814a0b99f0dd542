import { createPrivateKey } from 'node:crypto';
import type { Database } from '../../kit/index.js';
import { generateSigningKey, type PublicJwk, type SigningKey } from '../domain/tokens.js';

interface Row {
  kid: string;
  private_key_pem: string;
  public_jwk: PublicJwk;
}

/**
 * Loads the signing keys, creating the first one on the very first start. The
 * advisory lock makes replicas that start together agree on one key.
 * Newest first: the first key signs, all of them are published.
 */
export async function loadSigningKeys(db: Database): Promise<SigningKey[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(72432)');
    let rows = await tx.query<Row>('SELECT kid, private_key_pem, public_jwk FROM signing_keys ORDER BY created_at DESC');
    if (rows.length === 0) {
      const key = generateSigningKey();
      const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      await tx.query('INSERT INTO signing_keys (kid, private_key_pem, public_jwk) VALUES ($1, $2, $3)', [key.kid, pem, JSON.stringify(key.publicJwk)]);
      rows = [{ kid: key.kid, private_key_pem: pem, public_jwk: key.publicJwk }];
    }
    return rows.map((r) => ({ kid: r.kid, privateKey: createPrivateKey(r.private_key_pem), publicJwk: r.public_jwk }));
  });
}
