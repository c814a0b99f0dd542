import { describe, expect, it } from 'vitest';
import { attributeProfile, type CpuProfile, type ProfileFrame } from '../../bench/lib/profile.js';

/**
 * A profile as V8 writes it: (root) -> kit handler -> JSON.stringify (a builtin);
 * (root) -> pg query -> Node's socket write -> writev (a builtin); (root) -> the profiler -> dispatch; idle.
 */
const frame = (functionName: string, url: string): ProfileFrame => ({ functionName, url });
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 4, 7, 9] },
    { id: 2, callFrame: frame('sendJson', 'kit'), children: [3] },
    { id: 3, callFrame: frame('stringify', '') },
    { id: 4, callFrame: frame('query', 'pg'), children: [5] },
    { id: 5, callFrame: frame('_writeGeneric', 'node:net'), children: [6] },
    { id: 6, callFrame: frame('writev', '') },
    { id: 7, callFrame: frame('stop', 'profiler'), children: [8] },
    { id: 8, callFrame: frame('dispatch', '') },
    { id: 9, callFrame: frame('(idle)', '') },
  ],
  // 1 ms each: stringify 2, sendJson 1, writev 3, _writeGeneric 1, profiler 4, idle 10.
  samples: [3, 3, 2, 6, 6, 6, 5, 8, 8, 8, 8, ...Array<number>(10).fill(9)],
  timeDeltas: Array<number>(21).fill(1000),
};
const owners: Record<string, string> = { kit: 'meshkit', pg: 'npm: pg', 'node:net': 'Node', '': 'V8', profiler: 'profiler' };
const ownerOf = (f: ProfileFrame) => owners[f.url]!;
const isRuntime = (owner: string) => owner === 'Node' || owner === 'V8';

describe('attributing a CPU profile to whose code ran', () => {
  it('counts busy time by the owner of the sampled frame, idle left out', () => {
    const a = attributeProfile(profile, ownerOf, isRuntime);
    expect(a.busyMs).toBe(11);
    expect(a.self).toEqual({ V8: 9, meshkit: 1, Node: 1 });
  });

  it('gives runtime samples to the nearest caller that is not the runtime', () => {
    const a = attributeProfile(profile, ownerOf, isRuntime);
    expect(a.onBehalfOf).toEqual({ 'npm: pg': 4, profiler: 4, meshkit: 3 });
  });

  it("leaves out every sample with the excluded owner on its stack (the profiler's own work)", () => {
    const a = attributeProfile(profile, ownerOf, isRuntime, 'profiler');
    expect(a.busyMs).toBe(7);
    expect(a.self).toEqual({ V8: 5, meshkit: 1, Node: 1 });
    expect(a.onBehalfOf).toEqual({ 'npm: pg': 4, meshkit: 3 });
  });
});
