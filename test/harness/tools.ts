import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ComponentError } from './component-error.js';

/** Absolute path of `command` on PATH (or in `extraDirs`), or undefined. */
export function which(command: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export interface RunOptions extends Pick<SpawnSyncOptions, 'cwd' | 'env' | 'timeout' | 'input'> {
  /** Component named in the error when the command fails. */
  readonly component: string;
  /** What the user should do when the command fails. */
  readonly fix: string;
}

/**
 * Runs a command to completion and returns its stdout. On failure the error
 * names the component, the command and the last lines of its output.
 */
export function run(command: string, args: readonly string[], options: RunOptions): string {
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    timeout: options.timeout,
    input: options.input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    const why = result.error ? result.error.message : `exit code ${result.status}`;
    throw new ComponentError(options.component, `\`${command} ${args.join(' ')}\` failed (${why}):\n${output}`, options.fix);
  }
  return result.stdout;
}

function isDebianRoot(): boolean {
  return existsSync('/etc/debian_version') && process.getuid?.() === 0 && which('apt-get') !== undefined;
}

let aptUpdated = false;

/**
 * Installs Debian packages when this is a Debian machine and we are root;
 * otherwise throws a ComponentError telling the user what to install.
 */
export function aptInstall(component: string, packages: readonly string[], fix: string): void {
  if (!isDebianRoot()) {
    throw new ComponentError(component, `missing and cannot be installed automatically (not root on Debian)`, fix);
  }
  console.error(`[${component}] not found on PATH; installing Debian package(s) ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    run('apt-get', ['update', '-qq'], { component, fix, env });
    aptUpdated = true;
  }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { component, fix, env });
}

export interface ToolRequirement {
  /** Component that needs the tool, for error messages. */
  readonly component: string;
  /** Executable name looked up on PATH. */
  readonly command: string;
  /** Directories searched after PATH (for example /usr/lib/postgresql/15/bin). */
  readonly extraDirs?: readonly string[];
  /** Debian packages that provide the tool, installed when missing (root on Debian only). */
  readonly aptPackages?: readonly string[];
  /** What to tell the user when the tool is missing. */
  readonly fix: string;
}

/** Finds a tool on PATH first; falls back to apt-get where possible; else fails clearly. */
export function requireTool(req: ToolRequirement): string {
  const found = which(req.command, req.extraDirs);
  if (found) return found;
  if (req.aptPackages && req.aptPackages.length > 0) {
    aptInstall(req.component, req.aptPackages, req.fix);
    const installed = which(req.command, req.extraDirs);
    if (installed) return installed;
  }
  throw new ComponentError(req.component, `\`${req.command}\` not found on PATH`, req.fix);
}

/** Reads a small text file or returns undefined (used for cache stamps). */
export function readStamp(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}
