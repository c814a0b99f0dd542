import { execFile, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
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

export interface RunOptions extends Pick<SpawnSyncOptions, 'cwd' | 'env' | 'timeout' | 'input' | 'uid' | 'gid'> {
  /** Component named in the error when the command fails. */
  readonly component: string;
  /** What the user should do when the command fails. */
  readonly fix: string;
  /** How the error names the command. @default - the whole command line */
  readonly label?: string;
}

function commandFailed(command: string, args: readonly string[], options: RunOptions, why: string, stdout = '', stderr = ''): ComponentError {
  const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-25).join('\n');
  const label = options.label ?? `${command} ${args.join(' ')}`;
  return new ComponentError(options.component, `\`${label}\` failed (${why}):\n${output}`, options.fix);
}

function childOptions(options: Omit<RunOptions, 'input'>) {
  const { cwd, timeout, uid, gid } = options;
  return { cwd, timeout, uid, gid, env: options.env ?? process.env, encoding: 'utf8' as const, maxBuffer: 256 * 1024 * 1024 };
}

/**
 * Runs a command to completion and returns its stdout. On failure the error
 * names the component, the command and the last lines of its output.
 */
export function run(command: string, args: readonly string[], options: RunOptions): string {
  const result = spawnSync(command, args, { ...childOptions(options), input: options.input });
  if (result.error || result.status !== 0) {
    throw commandFailed(command, args, options, result.error ? result.error.message : `exit code ${result.status}`, result.stdout, result.stderr);
  }
  return result.stdout;
}

/**
 * `run` without blocking the event loop, for provisioning steps that overlap with
 * other components starting (the global setup starts all of them at once).
 */
export async function runAsync(command: string, args: readonly string[], options: Omit<RunOptions, 'input'>): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, childOptions(options));
    return stdout;
  } catch (error) {
    const { stdout, stderr, code, signal, message } = error as {
      stdout?: string;
      stderr?: string;
      code?: number | string;
      signal?: string | null;
      message: string;
    };
    const why = signal ? `killed by ${signal}` : typeof code === 'number' ? `exit code ${code}` : message;
    throw commandFailed(command, args, options, why, stdout, stderr);
  }
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

/** Major version of a `java` executable (8 for "1.8.0_x"), or undefined when it does not say. */
export function javaMajorVersion(java: string): number | undefined {
  const out = spawnSync(java, ['-version'], { encoding: 'utf8' });
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${out.stderr ?? ''}${out.stdout ?? ''}`);
  if (!match) return undefined;
  return match[1] === '1' ? Number(match[2]) : Number(match[1]);
}

export interface JavaRequirement {
  /** Component that needs Java, for error messages. */
  readonly component: string;
  /** Lowest Java major version that will do. */
  readonly minMajor: number;
  /** What Java is needed for, ending the error's first sentence (`to run the Kafka broker`). */
  readonly purpose: string;
  /** Debian packages that provide such a Java, installed when none is found (root on Debian only). @default - none: fail */
  readonly aptPackages?: readonly string[];
  /** What to tell the user when no such Java is found. */
  readonly fix: string;
}

function javaCandidates(): string[] {
  const jvmRoot = '/usr/lib/jvm';
  const installed = existsSync(jvmRoot) ? readdirSync(jvmRoot).map((name) => join(jvmRoot, name, 'bin', 'java')) : [];
  const found = [which('java'), process.env.JAVA_HOME && join(process.env.JAVA_HOME, 'bin', 'java'), ...installed].filter(
    (java): java is string => typeof java === 'string' && existsSync(java),
  );
  // /usr/lib/jvm holds the same JDK under several names (java-17-openjdk-amd64, java-1.17.0-openjdk-amd64).
  const byTarget = new Map<string, string>();
  for (const java of found) if (!byTarget.has(realpathSync(java))) byTarget.set(realpathSync(java), java);
  return [...byTarget.values()];
}

/**
 * A `java` of at least `minMajor`: the one on PATH, then JAVA_HOME's, then each JDK
 * under /usr/lib/jvm; then the Debian packages, if given. Otherwise a ComponentError
 * listing every Java seen with its version.
 */
export function findJava(req: JavaRequirement): string {
  const seen: string[] = [];
  const search = () => {
    for (const java of javaCandidates()) {
      const major = javaMajorVersion(java);
      if (major !== undefined && major >= req.minMajor) return java;
      seen.push(`${java} (${major ?? '?'})`);
    }
    return undefined;
  };
  const found = search();
  if (found) return found;
  const missing = () => `no Java ${req.minMajor}+ found ${req.purpose} (seen: ${seen.join(', ') || 'none'})`;
  if (req.aptPackages && req.aptPackages.length > 0) {
    try {
      aptInstall(req.component, req.aptPackages, req.fix);
    } catch (error) {
      const why = error instanceof ComponentError ? error.message.split('\n')[0] : String(error);
      throw new ComponentError(req.component, `${missing()}; apt-get could not add one: ${why}`, req.fix);
    }
    seen.length = 0;
    const installed = search();
    if (installed) return installed;
  }
  throw new ComponentError(req.component, missing(), req.fix);
}
