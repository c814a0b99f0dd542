import { AppError, ConflictError, NotFoundError } from '../../kit/index.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { signAccessToken, type SigningKey } from './tokens.js';

export interface User {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly createdAt: Date;
}

export interface UserRecord extends User {
  readonly passwordHash: string;
}

/** Storage the use cases need (implemented in infrastructure/). */
export interface UserStore {
  /** Inserts the user unless the email is taken; returns undefined when it is. */
  insert(user: { email: string; name: string; passwordHash: string }): Promise<User | undefined>;
  findByEmail(email: string): Promise<UserRecord | undefined>;
  findById(id: string): Promise<User | undefined>;
}

export class EmailTakenError extends ConflictError {
  constructor() {
    super('EMAIL_TAKEN', 'an account with this email already exists');
  }
}

export class InvalidCredentialsError extends AppError {
  constructor() {
    super(401, 'INVALID_CREDENTIALS', 'email or password is wrong');
  }
}

export class UserNotFoundError extends NotFoundError {
  constructor(id: string) {
    super('USER_NOT_FOUND', `user ${id} does not exist`);
  }
}

export interface TokenSettings {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
}

export interface Session {
  readonly accessToken: string;
  readonly tokenType: 'Bearer';
  readonly expiresIn: number;
}

/** Emails compare case-insensitively; they are stored in one canonical form. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export class Accounts {
  // Hashing against a throwaway hash when the email is unknown keeps both answers equally slow,
  // so login timing does not reveal which emails have accounts.
  private readonly decoyHash = hashPassword('decoy password, never matches');

  constructor(
    private readonly store: UserStore,
    private readonly signingKey: () => SigningKey,
    private readonly tokens: TokenSettings,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async register(input: { email: string; password: string; name: string }): Promise<User> {
    const user = await this.store.insert({ email: normalizeEmail(input.email), name: input.name.trim(), passwordHash: await hashPassword(input.password) });
    if (!user) throw new EmailTakenError();
    return user;
  }

  async login(input: { email: string; password: string }): Promise<Session> {
    const record = await this.store.findByEmail(normalizeEmail(input.email));
    const valid = await verifyPassword(input.password, record?.passwordHash ?? (await this.decoyHash));
    if (!record || !valid) throw new InvalidCredentialsError();
    const iat = Math.floor(this.now().getTime() / 1000);
    const accessToken = signAccessToken(this.signingKey(), {
      iss: this.tokens.issuer,
      aud: this.tokens.audience,
      sub: record.id,
      iat,
      exp: iat + this.tokens.ttlSeconds,
      email: record.email,
    });
    return { accessToken, tokenType: 'Bearer', expiresIn: this.tokens.ttlSeconds };
  }

  async get(id: string): Promise<User> {
    const user = await this.store.findById(id);
    if (!user) throw new UserNotFoundError(id);
    return user;
  }
}
