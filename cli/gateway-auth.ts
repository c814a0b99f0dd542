import { randomUUID } from 'node:crypto';
import type { Context } from './context.js';
import { formatDuration } from './plan.js';
import { user } from '../contract/services.js';
import { callOf, named, smokeApi } from './smoke.js';

/** What one try of "is a token minted by the user service accepted at the gateway" found. */
export interface TokenCheck {
  readonly accepted: boolean;
  /** Status of the answer that decided it (undefined: the gateway did not answer). */
  readonly status?: number;
  /** True when the token itself was refused (401 on GET /users/me): istiod has no valid JWKS for the issuer yet. */
  readonly rejected: boolean;
  readonly detail: string;
}

/**
 * Registers a throwaway user and logs in through the ingress gateway, then calls the
 * JWT-protected GET /users/me with the token it got: 200 means the gateway verified a token
 * the user service minted, i.e. istiod fetched the user service's JWKS. The request shapes
 * are the smoke test's (`smokeApi`).
 */
export async function checkTokenAccepted(doFetch: typeof fetch, baseUrl: string, requestTimeoutMs = 10_000): Promise<TokenCheck> {
  const send = async (api: { method: string; path: string; body?: unknown }, token?: string) => {
    const res = await doFetch(new URL(api.path, baseUrl), {
      method: api.method,
      headers: {
        accept: 'application/json',
        ...(api.body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      body: api.body === undefined ? undefined : JSON.stringify(api.body),
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // an Envoy error page: keep the text for the message
    }
    return { status: res.status, body, text: text.trim().slice(0, 120) };
  };
  const answered = (what: string, r: { status: number; text: string }) => `${what} answered ${r.status}${r.text ? ` (${r.text})` : ''}`;
  try {
    const email = `up-check-${randomUUID()}@example.com`;
    const password = `Up-${randomUUID()}`;
    const register = await send(smokeApi.register(email, password));
    if (register.status !== 201) return { accepted: false, status: register.status, rejected: false, detail: answered(named(user.routes.register), register) };
    const login = await send(smokeApi.login(email, password));
    const token = smokeApi.accessToken(login.body);
    if (!token) return { accepted: false, status: login.status, rejected: false, detail: answered(named(user.routes.login), login) };
    const me = await send(callOf(user.routes.me), token);
    if (me.status === 200) return { accepted: true, status: 200, rejected: false, detail: `${named(user.routes.me)} answered 200 to a fresh token` };
    return { accepted: false, status: me.status, rejected: me.status === 401, detail: answered(`${named(user.routes.me)} with a fresh token`, me) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error instanceof Error ? error.message : String(error));
    return { accepted: false, rejected: false, detail: `the gateway did not answer (${cause})` };
  }
}

export interface TokenWaitDeps {
  readonly baseUrl: string;
  /** Restarts istiod and waits until it is ready again: a fresh istiod fetches every JWKS at once. */
  readonly restartIstiod: () => Promise<void>;
}

/**
 * Waits until the gateway accepts a token the user service minted. istiod fetches the JWKS of a
 * RequestAuthentication when it first builds the gateway's config; during `make up` that is
 * before the user service runs, the fetch fails and istiod retries with a backoff of a minute and
 * more, doubling, while the gateway answers 401 to every token. So when tokens keep being refused
 * for `jwksNudgeMs` (the user service answers, so its JWKS is there), istiod is restarted once.
 * Prints what it waits for on each heartbeat; throws with the last answer after `gatewayAuthMs`.
 */
export async function waitUntilTokenAccepted(ctx: Pick<Context, 'now' | 'sleep' | 'print' | 'timeouts' | 'fetch'>, deps: TokenWaitDeps): Promise<string> {
  const doFetch = ctx.fetch ?? fetch;
  const { gatewayAuthMs, jwksNudgeMs, pollMs, heartbeatMs } = ctx.timeouts;
  const started = ctx.now();
  let lastBeat = started;
  let rejectedSince: number | undefined;
  let restarted = false;
  let tries = 0;
  for (;;) {
    tries++;
    const check = await checkTokenAccepted(doFetch, deps.baseUrl);
    const elapsed = ctx.now() - started;
    if (check.accepted) {
      return `${check.detail} after ${tries} ${tries === 1 ? 'try' : 'tries'} (${formatDuration(elapsed)})${restarted ? '; istiod was restarted to fetch the JWKS' : ''}`;
    }
    rejectedSince = check.rejected ? (rejectedSince ?? ctx.now()) : undefined;
    if (elapsed >= gatewayAuthMs) {
      throw new Error(
        `timed out after ${formatDuration(gatewayAuthMs)} waiting for the gateway to accept a token of the user service: last try: ${check.detail}\n` +
          (check.rejected
            ? `istiod has no valid JWKS for the issuer${restarted ? ' even after a restart' : ''}: check that the user service serves /.well-known/jwks.json (\`kubectl --context kind-meshkit -n shop logs deploy/user\`) and istiod's log (\`kubectl --context kind-meshkit -n istio-system logs deploy/istiod | grep -i jwks\`)`
            : 'the gateway or the user service does not answer as expected yet: `make status`, then `make smoke` for the whole flow'),
      );
    }
    if (check.rejected && !restarted && ctx.now() - rejectedSince! >= jwksNudgeMs) {
      ctx.print(
        `  tokens refused for ${formatDuration(ctx.now() - rejectedSince!)} (${check.detail}): istiod fetched the JWKS before the user service ran and is backing off; restarting istiod`,
      );
      await deps.restartIstiod();
      restarted = true;
      rejectedSince = undefined;
      continue;
    }
    if (ctx.now() - lastBeat >= heartbeatMs) {
      lastBeat = ctx.now();
      ctx.print(`  … ${formatDuration(elapsed)}: waiting for the gateway to accept a token: ${check.detail}`);
    }
    await ctx.sleep(Math.min(pollMs, Math.max(1, gatewayAuthMs - elapsed)));
  }
}
