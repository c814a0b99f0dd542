/**
 * `npm run bench`: every benchmark section in turn, each in its own process,
 * then bench/RESULTS.md. With --quiet-below, waits before each section
 * (bounded by --max-wait-minutes in total) until the 1-minute load average is
 * below that value, so the figures are taken on a machine as quiet as it gets.
 *
 * Usage: tsx bench/run-all.ts [--only synth,services,saga-floor,shop-profile,...] [--quiet-below 1] [--max-wait-minutes 40]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatLoad, loadNow, waitForQuiet } from './lib/machine.js';
import { log, repoRoot, runScript } from './lib/results.js';

const SECTIONS = ['synth', 'startup', 'footprint', 'services', 'saga-floor', 'shop-profile', 'pipeline', 'sidecar', 'mesh-saga'] as const;
/** Sections that put pods in network namespaces: root only. */
const ROOT_ONLY: readonly string[] = ['sidecar', 'mesh-saga'];

function run(script: string, args: readonly string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, 'node_modules', '.bin', 'tsx'), [join('bench', script), ...args], { cwd: repoRoot, stdio: 'inherit' });
    // A section that hangs would hold the run forever: no section needs more than 30 minutes.
    const timer = setTimeout(() => child.kill('SIGTERM'), 30 * 60_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`bench/${script} ended with ${signal ?? `exit code ${code}`}`));
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, 'quiet-below': { type: 'string' }, 'max-wait-minutes': { type: 'string', default: '40' } },
  });
  const chosen = values.only ? values.only.split(',') : [...SECTIONS];
  const unknown = chosen.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}: choose from ${SECTIONS.join(', ')}`);
  const threshold = values['quiet-below'] === undefined ? undefined : Number(values['quiet-below']);
  const deadline = Date.now() + Math.max(0, Number(values['max-wait-minutes'])) * 60_000;
  const failures: string[] = [];
  for (const section of SECTIONS.filter((s) => chosen.includes(s))) {
    if (ROOT_ONLY.includes(section) && !values.only && process.getuid?.() !== 0) {
      log('run', `${section} skipped: it needs root (network namespaces); run \`sudo npm run bench:${section}\``);
      continue;
    }
    if (threshold !== undefined) {
      const quiet = await waitForQuiet(threshold, Math.max(0, deadline - Date.now()), 15_000, (line) => log('run', line));
      log('run', `${quiet ? 'quiet enough' : 'waited long enough; measuring anyway'}: load ${formatLoad(loadNow())}`);
    }
    try {
      await run(`${section}.ts`);
    } catch (err) {
      failures.push(err instanceof Error ? err.message : String(err));
      log('run', `${section} failed; its previous figures (if any) stay in results.json`);
    }
  }
  await run('report.ts');
  if (failures.length > 0) throw new Error(`some sections failed:\n${failures.join('\n')}`);
}

runScript(main);
