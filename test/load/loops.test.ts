import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAgent, send } from '../../load/http.js';
import { closedLoop, openLoop } from '../../load/loops.js';
import { checkTarget } from '../../load/targets.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((resolve) => s.close(resolve));
    }),
  );
});

/** A loopback server answering every request after `delayMs`; it counts what it received and how many at once. */
async function slowServer(delayMs: number) {
  const seen = { received: 0, active: 0, maxActive: 0 };
  const server = createServer((req, res) => {
    seen.received += 1;
    seen.active += 1;
    seen.maxActive = Math.max(seen.maxActive, seen.active);
    req.resume();
    setTimeout(() => {
      seen.active -= 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    }, delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { seen, target: checkTarget(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) };
}

describe('the open loop', () => {
  it('fires on schedule while a slow server queues the requests, and latency from the due time counts the queueing', async () => {
    // One socket and 100 ms per answer: the server manages 10/s, the loop offers 20/s.
    const { seen, target } = await slowServer(100);
    const agent = loadAgent(1);
    const firedLateMs: number[] = [];
    const latencies: number[] = [];
    const run = openLoop({
      ratePerSecond: 20,
      durationMs: 500,
      maxInFlight: 100,
      fire: async (index, dueAt) => {
        firedLateMs[index] = performance.now() - dueAt;
        const answer = await send(target, { method: 'GET', path: `/${index}` }, { agent, timeoutMs: 5_000, discardBody: true });
        expect(answer.status).toBe(200);
        latencies[index] = performance.now() - dueAt;
      },
      dropped: () => expect.unreachable('nothing is dropped below maxInFlight'),
    });
    const end = await run.done;
    agent.destroy();
    expect(end).toEqual({ scheduled: 10, ended: 'duration' });
    expect(seen.received).toBe(10);
    expect(seen.maxActive).toBe(1);
    // Each request left when due (never before), not when the previous one was answered (request 9 is due at 450 ms; a closed loop would send it at 900 ms).
    expect(Math.min(...firedLateMs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...firedLateMs)).toBeLessThan(200);
    // Request k waits for the k before it: ~100 + 50k ms from its due time, though the server takes 100 ms.
    expect(latencies[0]!).toBeLessThan(300);
    expect(latencies[9]!).toBeGreaterThanOrEqual(500);
  });

  it('hands requests due while maxInFlight are in flight to dropped, and ends on maxRequests or stop()', async () => {
    const { seen, target } = await slowServer(300);
    const agent = loadAgent(10);
    const dropped: number[] = [];
    const byRequests = await openLoop({
      ratePerSecond: 100,
      durationMs: 5_000,
      maxRequests: 10,
      maxInFlight: 4,
      fire: async (index) => void (await send(target, { method: 'GET', path: `/${index}` }, { agent, timeoutMs: 5_000 })),
      dropped: (index) => dropped.push(index),
    }).done;
    expect(byRequests).toEqual({ scheduled: 10, ended: 'requests' });
    expect(dropped).toEqual([4, 5, 6, 7, 8, 9]);
    expect(seen.received).toBe(4);

    const began = performance.now();
    const run = openLoop({ ratePerSecond: 10, durationMs: 60_000, maxInFlight: 10, fire: () => Promise.resolve(), dropped: () => undefined });
    setTimeout(() => run.stop(), 250);
    expect(await run.done).toEqual({ scheduled: 3, ended: 'stopped' });
    expect(performance.now() - began).toBeLessThan(1_000);
    agent.destroy();
  });
});

describe('the closed loop', () => {
  it('keeps one request in flight per connection until the duration is over, and counts every request', async () => {
    const { seen, target } = await slowServer(20);
    const agent = loadAgent(4);
    const answered = [0, 0, 0, 0];
    const began = performance.now();
    const fired = await closedLoop({
      connections: 4,
      durationMs: 500,
      fire: async (worker) => {
        const answer = await send(target, { method: 'GET', path: '/' }, { agent, timeoutMs: 5_000, discardBody: true });
        if (answer.status === 200) answered[worker]! += 1;
      },
    });
    const tookMs = performance.now() - began;
    agent.destroy();
    expect(seen.maxActive).toBe(4);
    expect(seen.received).toBe(fired);
    expect(answered.reduce((a, b) => a + b, 0)).toBe(fired);
    // 4 connections at 20 ms each: about 100 in 500 ms (fewer on a busy machine, never more).
    expect(fired).toBeGreaterThan(20);
    expect(fired).toBeLessThanOrEqual(4 * Math.ceil(500 / 20) + 4);
    expect(Math.min(...answered)).toBeGreaterThan(0);
    // The last requests start before the end and take one answer's time.
    expect(tookMs).toBeGreaterThanOrEqual(500);
    expect(tookMs).toBeLessThan(1_000);
  });
});
