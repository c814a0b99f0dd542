import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
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

/** The process group of a live process (field 5 of /proc/<pid>/stat, after the parenthesised name). */
function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('a mesh run ended by a signal', () => {
  const cases = [
    { name: 'SIGTERM', signal: 'SIGTERM', terminal: false },
    { name: 'SIGHUP', signal: 'SIGHUP', terminal: false },
    { name: 'SIGINT', signal: 'SIGINT', terminal: false },
    // A terminal's Ctrl-C signals the whole foreground process group: the containers must not be in it.
    { name: 'Ctrl-C in a terminal (SIGINT to the process group)', signal: 'SIGINT', terminal: true },
  ] as const;
  for (const { name, signal, terminal } of cases) {
    it(`${name} leaves no process, namespace, veth, bridge, /etc/netns file or mount behind`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/mesh-runtime/run-pods.fixture.ts'], {
        env: { ...process.env, MESHKIT_TEST_KUBE: JSON.stringify(inject('kube')), MESHKIT_TEST_NS: `mesh-sig-${randomBytes(3).toString('hex')}` },
        stdio: ['ignore', 'pipe', 'pipe'],
        // Like a shell's job: the runner leads a process group of its own.
        detached: terminal,
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
      if (terminal) {
        expect(pids.map(processGroup).filter((group) => group === child.pid)).toEqual([]);
        process.kill(-child.pid!, signal);
      } else child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code, stderr).toBe({ SIGTERM: 143, SIGHUP: 129, SIGINT: 130 }[signal]);
      expect(stderr).not.toMatch(/cleanup failed/);
      expect(pids.filter(alive)).toEqual([]);
      expect(await networkLeftovers(prefix)).toEqual({ netns: [], links: [], etcNetns: [], mounts: [] });
    }, 120_000);
  }
});
