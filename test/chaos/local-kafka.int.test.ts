import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalShop, type LocalShop } from '../../local/dev/index.js';
import { localEnvironment, localShopEnv } from '../../chaos/local.js';
import { renderReport, type ScenarioReport } from '../../chaos/report.js';
import { runScenario } from '../../chaos/runner.js';
import { findScenario } from '../../chaos/scenarios/index.js';
import { startKafkaBroker, type KafkaBroker } from '../../infra/kafka-broker.js';
import { createDatabase } from '../../infra/postgres.js';

// Scenario 5 on the local shop with a broker of its own (the shared test broker must not be
// taken away): the broker is stopped during orders and started again with the same data.

const run = randomBytes(4).toString('hex');
const orderSweep = { intervalMs: 500, staleMs: 6_000 };
let broker: KafkaBroker;
let shop: LocalShop;

beforeAll(async () => {
  broker = await startKafkaBroker();
  const { url } = inject('postgres');
  shop = await startLocalShop({
    databaseUrlFor: (service) => createDatabase(url, `chaos_kafka_${service}_${run}`),
    kafkaBrokers: broker.brokers,
    env: localShopEnv(orderSweep),
  });
}, 240_000);

afterAll(async () => {
  await shop?.stop();
  await broker?.stop();
});

const check = (report: ScenarioReport, text: string) => report.checks.find((c) => c.expectation.includes(text))!;

describe('5 kafka-broker-kill on the local shop', () => {
  it('keeps orders working while the broker is down; events arrive late, none lost, none twice; the outbox drains: PASS', async () => {
    const env = localEnvironment({ shop, orderSweep, kafka: broker });
    const report = await runScenario(findScenario('kafka-broker-kill'), env, {
      timings: { baselineMs: 5_000, duringMs: 12_000, afterMs: 5_000, restoreTimeoutMs: 120_000 },
    });
    expect(report.verdict, renderReport(report)).toBe('PASS');
    expect(report.steps[1]).toBe(`inject: stopped the local Kafka broker ${broker.brokers.join(',')}`);
    expect(report.steps[2]).toBe('revert: started the broker again (same port, same data)');
    for (const text of ['orders keep working', 'the outage was real', 'no event is lost', 'no event is applied twice', 'the outbox drained']) {
      expect(check(report, text).outcome, text).toBe('pass');
    }
    const published = report.figures.find((f) => f.label === 'events published')!.values;
    const processed = report.figures.find((f) => f.label === 'events processed')!.values;
    expect(published[0]!).toBeGreaterThan(0);
    expect(processed[0]!).toBeGreaterThan(0);
    // At the end of the outage the outbox held the events of the orders placed meanwhile.
    expect(report.figures.find((f) => f.label === 'outbox unsent at phase end')!.values[1]!).toBeGreaterThan(0);
    expect(report.observations.join('\n')).toMatch(
      /event delay \(state change → notification\): baseline median \d+ms max [\d.]+m?s, during median [\d.]+m?s max [\d.]+s/,
    );
  }, 300_000);
});
