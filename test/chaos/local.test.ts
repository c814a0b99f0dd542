import { describe, expect, it } from 'vitest';
import { services } from '../../charts/platform.js';
import { localShopEnv } from '../../chaos/local.js';

describe('localShopEnv', () => {
  it('quiets every service of the model and gives order the recovery sweep the environment reports', () => {
    const env = localShopEnv({ intervalMs: 1_000, staleMs: 5_000 });
    expect(Object.keys(env).sort()).toEqual(services.map((s) => s.name).sort());
    for (const service of services) expect(env[service.name].LOG_LEVEL, service.name).toBe('warn');
    expect(env.order).toEqual({ LOG_LEVEL: 'warn', SWEEP_INTERVAL_MS: '1000', STALE_ORDER_MS: '5000' });
  });
});
