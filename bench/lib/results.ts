import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { loadNow, machine, type LoadSample, type Machine } from './machine.js';

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = join(benchDir, '..');
export const resultsFile = join(benchDir, 'results.json');

/** The sections, in the order results.json keeps them. */
const SECTION_NAMES = ['synth', 'services', 'sagaFloor', 'shopProfile', 'pipeline', 'startup', 'footprint', 'sidecar', 'meshSaga'] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

/** One benchmark script's run: where, when, how and what it measured. */
export interface Section {
  readonly command: string;
  readonly machine: Machine;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly loadAtStart: LoadSample;
  readonly loadAtEnd: LoadSample;
  /** Figures as the script defines them; report.ts reads them. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each section has its own shape, read by report.ts
  readonly data: any;
}

export interface Results {
  sections: Partial<Record<SectionName, Section>>;
}

export function readResults(): Results {
  if (!existsSync(resultsFile)) return { sections: {} };
  return JSON.parse(readFileSync(resultsFile, 'utf8')) as Results;
}

/** Replaces one section in bench/results.json, keeping the others; formatted as `npm run lint` wants it. */
export async function writeSection(name: SectionName, section: Section): Promise<void> {
  const results = readResults();
  results.sections[name] = section;
  const ordered: Results = { sections: {} };
  for (const key of SECTION_NAMES) {
    if (results.sections[key]) ordered.sections[key] = results.sections[key];
  }
  const options = (await resolveConfig(resultsFile)) ?? {};
  writeFileSync(resultsFile, await format(JSON.stringify(ordered, null, 2), { ...options, filepath: resultsFile }));
}

/** Runs a section's measurement with its machine, load and time stamps, and stores it. */
export async function runSection(name: SectionName, command: string, measure: () => Promise<unknown>): Promise<void> {
  const startedAt = new Date().toISOString();
  const loadAtStart = loadNow();
  log(name, `start; load ${loadAtStart.load1} / ${loadAtStart.load5} / ${loadAtStart.load15}`);
  const data = await measure();
  const loadAtEnd = loadNow();
  await writeSection(name, { command, machine: machine(), startedAt, finishedAt: new Date().toISOString(), loadAtStart, loadAtEnd, data });
  log(name, `done; load ${loadAtEnd.load1} / ${loadAtEnd.load5} / ${loadAtEnd.load15}; written to ${resultsFile}`);
}

export function log(section: string, line: string): void {
  process.stderr.write(`[bench:${section}] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

/** Runs `main` as a script entry: prints the error and exits 1 when it fails. */
export function runScript(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
