import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafka, createProducer } from '../../apps/kit/index.js';
import { kafkaRequestQueue, kafkajsScheduleCheckPendingRequests } from '../../apps/kit/kafka-idle-loop-fix.js';
import type { Producer } from 'kafkajs';

const proto = kafkaRequestQueue.prototype;
const ours = proto.scheduleCheckPendingRequests;
const originalCheck = proto.checkPendingRequests;
let checks = 0;
let producer: Producer;

/** Queue checks per second on a connected producer that sends nothing. */
async function idleChecksPerSecond(): Promise<number> {
  await sleep(100);
  checks = 0;
  await sleep(1000);
  return checks;
}

beforeAll(async () => {
  proto.checkPendingRequests = function (this: typeof proto) {
    checks++;
    originalCheck.call(this);
  };
  const kafka = createKafka(
    { clientId: 'idle-loop-test', brokers: inject('kafka').brokers, produceTopics: [], consumeTopics: [], groupId: 'idle-loop-test' },
    pino({ level: 'silent' }),
  );
  producer = createProducer(kafka);
  await producer.connect();
  // A connection that has answered once is the one kafkajs 2.2.4 keeps polling.
  await producer.send({ topic: `idle-loop-${Date.now()}`, acks: -1, messages: [{ key: 'k', value: 'v' }] });
}, 60_000);

afterAll(async () => {
  proto.scheduleCheckPendingRequests = ours;
  proto.checkPendingRequests = originalCheck;
  await producer?.disconnect();
});

describe("the kit's kafkajs connections", () => {
  it("spin on a 1 ms timer while idle with kafkajs's own scheduling (the control)", async () => {
    proto.scheduleCheckPendingRequests = kafkajsScheduleCheckPendingRequests;
    // Any check re-arms the loop; a send makes one.
    await producer.send({ topic: `idle-loop-${Date.now()}`, acks: -1, messages: [{ key: 'k', value: 'v' }] });
    expect(await idleChecksPerSecond()).toBeGreaterThan(200);
  });

  it('stay asleep while idle with the kit fix, and still send at once afterwards', async () => {
    proto.scheduleCheckPendingRequests = ours;
    // The loop the control left running ends at its next turn.
    await sleep(50);
    expect(await idleChecksPerSecond()).toBeLessThan(10);
    const began = performance.now();
    await producer.send({ topic: `idle-loop-${Date.now()}`, acks: -1, messages: [{ key: 'k', value: 'v' }] });
    expect(performance.now() - began).toBeLessThan(2000);
    expect(await idleChecksPerSecond()).toBeLessThan(10);
  });
});
