import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, inject, it } from 'vitest';
import { networkLeftovers } from '../../local/mesh/pod-network.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a mesh run ended by a signal', () => {
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT'] as const) {
    it(`${signal} leaves no process, namespace, veth, bridge, /etc/netns file or mount behind`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/mesh-runtime/run-pods.fixture.ts'], {
        env: { ...process.env, MESHKIT_TEST_KUBE: JSON.stringify(inject('kube')), MESHKIT_TEST_NS: `mesh-sig-${randomBytes(3).toString('hex')}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`the fixture exited (${code}) before it was ready:\n${stderr}`)));
      });
      const { prefix, pids } = JSON.parse(line) as { prefix: string; pids: number[] };
      expect(pids.length).toBe(3);
      expect((await networkLeftovers(prefix)).netns).toHaveLength(3);
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, stderr).toBe({ SIGTERM: 143, SIGHUP: 129, SIGINT: 130 }[signal]);
      expect(pids.filter(alive)).toEqual([]);
      expect(await networkLeftovers(prefix)).toEqual({ netns: [], links: [], etcNetns: [], mounts: [] });
    }, 120_000);
  }
});
