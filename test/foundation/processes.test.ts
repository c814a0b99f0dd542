import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachePath, repoRoot } from '../../infra/cache.js';
import { ComponentError } from '../../infra/component-error.js';
import { cleanStaleRunDirs, createRunDir, freePorts, pollUntil, removeRunDir, spawnManaged, tailFile } from '../../infra/processes.js';

const scratch = mkdtempSync(join(cachePath('test-processes'), 'run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Alive and not a zombie (an orphan's zombie lingers where PID 1 does not reap). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The id of a process that has certainly ended. */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  if (!pid || isRunning(pid)) throw new Error('could not get the id of an ended process');
  return pid;
}

/**
 * Runs `body` in a separate Node process with processes.ts imported as `managed`; it
 * prints one JSON line (its pid and what `body` returns) and then waits to be killed.
 */
async function harnessProcess(body: string): Promise<{ node: ReturnType<typeof spawn>; report: { pid: number; value: Record<string, unknown> } }> {
  const file = join(scratch, `child-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(
    file,
    `import * as managed from ${JSON.stringify(join(repoRoot, 'infra', 'processes.ts'))};\n` +
      `const value = await (async () => { ${body} })();\n` +
      `console.log(JSON.stringify({ pid: process.pid, value }));\n` +
      `setInterval(() => undefined, 1000);\n`,
  );
  const node = spawn(process.execPath, ['--import', 'tsx', file], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    node.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    node.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)));
  });
  return { node, report: JSON.parse(line) as { pid: number; value: Record<string, unknown> } };
}

describe('free ports', () => {
  it('hands out distinct loopback ports that can be listened on', async () => {
    const ports = await freePorts(3);

    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      await new Promise<void>((resolve, reject) => {
        const server = createServer().once('error', reject);
        server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
      });
    }
  });
});

describe('run directories', () => {
  it('removes only the directories of this prefix whose process is gone', () => {
    const root = mkdtempSync(join(scratch, 'stale-'));
    const dead = deadPid();
    const names = [`broker-${dead}-aaaaaa`, `broker-${process.pid}-bbbbbb`, `broker-1-cccccc`, 'broker-notapid', `pg-${dead}-dddddd`];
    for (const name of names) mkdirSync(join(root, name));

    cleanStaleRunDirs(root, 'broker-');

    expect(names.filter((name) => existsSync(join(root, name)))).toEqual([
      `broker-${process.pid}-bbbbbb`,
      `broker-1-cccccc`,
      'broker-notapid',
      `pg-${dead}-dddddd`,
    ]);
  });

  it('creates a fresh directory named after this process, with the mode asked for', () => {
    const root = mkdtempSync(join(scratch, 'fresh-'));
    mkdirSync(join(root, `run-${deadPid()}-left`));

    const dir = createRunDir(root, 'run-', { mode: 0o755 });

    expect(dir).toMatch(new RegExp(`/run-${process.pid}-[^/]+$`));
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(existsSync(join(root, `run-${process.pid}-left`))).toBe(false);
    removeRunDir(dir);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('polling', () => {
  it('gives up at once with the reason abortIf returns', async () => {
    await expect(pollUntil('ready', async () => false, { timeoutMs: 10_000, abortIf: () => 'exited (exit code 1)' })).rejects.toThrow(
      'exited (exit code 1) before ready',
    );
  });

  it('quotes the last probe error when time runs out', async () => {
    const probe = async (): Promise<boolean> => {
      throw new Error('connection refused');
    };

    await expect(pollUntil('healthy', probe, { timeoutMs: 200, intervalMs: 50 })).rejects.toThrow('not healthy after 0.2 s (last probe: connection refused)');
  });

  it('resolves as soon as the probe says yes', async () => {
    let calls = 0;
    await pollUntil('ready', async () => ++calls === 3, { timeoutMs: 10_000, intervalMs: 10 });
    expect(calls).toBe(3);
  });
});

describe('managed processes', () => {
  it('reports a process that dies before it is ready with the end of its log and the fix', async () => {
    const logFile = join(scratch, 'dies.log');
    const proc = await spawnManaged('/bin/sh', ['-c', 'echo starting; echo "bad config line 3" >&2; exit 3'], { name: 'demo', logFile, fix: 'correct line 3' });

    const error = await proc.waitUntil('ready', async () => false, { timeoutMs: 30_000 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ComponentError);
    expect((error as ComponentError).component).toBe('demo');
    expect((error as ComponentError).fix).toBe('correct line 3');
    expect((error as Error).message).toContain('exited (exit code 3) before ready');
    expect((error as Error).message).toContain(`--- last lines of ${logFile} ---\nstarting\nbad config line 3`);
    await proc.stop();
  });

  it('fails with a ComponentError when the command cannot be started', async () => {
    const start = spawnManaged(join(scratch, 'no-such-binary'), [], { name: 'demo', logFile: join(scratch, 'missing.log'), fix: 'build it first' });

    await expect(start).rejects.toThrow(/^\[demo\] could not start .*no-such-binary: spawn .* ENOENT\n {2}fix: build it first$/);
  });

  it('stops with the stop signal, and with SIGKILL after graceMs when that is ignored', async () => {
    const polite = await spawnManaged('sleep', ['30'], { name: 'polite', logFile: join(scratch, 'polite.log'), fix: '-', stopSignal: 'SIGINT' });
    const stubborn = await spawnManaged('/bin/sh', ['-c', "trap '' TERM; echo trapped; exec sleep 30"], {
      name: 'stubborn',
      logFile: join(scratch, 'stubborn.log'),
      fix: '-',
      graceMs: 300,
    });
    // A SIGTERM that lands before the shell has set its trap would kill it outright: wait for the trap.
    await stubborn.waitUntil('the TERM trap is set', async () => stubborn.logs().includes('trapped'), { timeoutMs: 10_000, intervalMs: 20 });

    await Promise.all([polite.stop(), stubborn.stop()]);

    expect(polite.exited).toBe('killed by SIGINT');
    expect(stubborn.exited).toBe('killed by SIGKILL');
    await polite.stop();
  });

  it('keeps only the last lines of a log', () => {
    const file = join(scratch, 'long.log');
    writeFileSync(file, `${Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n')}\n`);
    expect(tailFile(file, 2)).toBe('line 98\nline 99');
    expect(tailFile(join(scratch, 'never-written.log'))).toBe('(no log written)');
  });

  it('takes servers and run directories down with a test runner that exits without stopping them', async () => {
    const { node, report } = await harnessProcess(`
      const dir = managed.createRunDir(${JSON.stringify(scratch)}, 'exiting-');
      const proc = await managed.spawnManaged('sleep', ['300'], { name: 'sleeper', logFile: dir + '/sleep.log', fix: '-' });
      setTimeout(() => process.exit(0), 200);
      return { dir, sleeper: proc.pid };
    `);
    await new Promise((resolve) => node.once('exit', resolve));

    expect(isRunning(report.value.sleeper as number)).toBe(false);
    expect(existsSync(report.value.dir as string)).toBe(false);
  });

  it('has a watchdog stop the server when the test runner itself is SIGKILLed', async () => {
    const { node, report } = await harnessProcess(`
      const proc = await managed.spawnManaged('sleep', ['300'], { name: 'sleeper', logFile: ${JSON.stringify(join(scratch, 'orphan.log'))}, fix: '-', graceMs: 2000 });
      return { sleeper: proc.pid };
    `);
    const sleeper = report.value.sleeper as number;
    expect(isRunning(sleeper)).toBe(true);

    node.kill('SIGKILL');

    await pollUntil('the orphaned sleeper gone', async () => !isRunning(sleeper), { timeoutMs: 10_000, intervalMs: 100 });
  });
});
