import { describe, expect, it } from 'vitest';
import { PodStatusWriter } from '../../local/mesh/pod-status.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A pod whose readiness the test flips, and an apiserver that records what landed. */
function fixture(options: { sendMs?: number; failFirst?: number } = {}) {
  const pod = { ready: false };
  const landed: boolean[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let failures = options.failFirst ?? 0;
  const writer = new PodStatusWriter(
    () => ({ status: { ready: pod.ready }, key: String(pod.ready) }),
    async (status) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(options.sendMs ?? 1);
      inFlight--;
      if (failures > 0) {
        failures--;
        throw new Error('connection reset');
      }
      landed.push(status.ready as boolean);
    },
    20,
  );
  return { pod, landed, writer, maxInFlight: () => maxInFlight };
}

describe('the kubelet writing a pod status', () => {
  it('sends one write at a time, so a slow NotReady write never lands after the Ready one', async () => {
    const { pod, landed, writer, maxInFlight } = fixture({ sendMs: 30 });
    const first = writer.write();
    pod.ready = true;
    await Promise.all([first, writer.write()]);
    expect(maxInFlight()).toBe(1);
    expect(landed.at(-1)).toBe(true);
  });

  it('sends the status as it is when the write goes out, and skips a status the apiserver already has', async () => {
    const { pod, landed, writer } = fixture({ sendMs: 30 });
    const slow = writer.write();
    await sleep(5); // the NotReady write is on its way
    const queued = writer.write();
    pod.ready = true;
    await Promise.all([slow, queued, writer.write()]);
    expect(landed).toEqual([false, true]);
  });

  it('retries a failed write until it lands, with no caller asking again', async () => {
    const { pod, landed, writer } = fixture({ failFirst: 2 });
    pod.ready = true;
    await expect(writer.write()).rejects.toThrow('connection reset');
    for (let i = 0; i < 50 && landed.length === 0; i++) await sleep(10);
    expect(landed).toEqual([true]);
  });

  it('stops retrying once closed', async () => {
    const { landed, writer } = fixture({ failFirst: 1 });
    await expect(writer.write()).rejects.toThrow();
    writer.close();
    await sleep(80);
    expect(landed).toEqual([]);
  });
});
