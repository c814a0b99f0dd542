import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** What a finished command left behind. `code` 127 means the executable was not found. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. */
  readonly input?: string;
  /** Killed (SIGTERM) after this long; the result then has code 124. */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** Variables added to this process's environment for the command (DOCKER_BUILDKIT=1). @default - none */
  readonly env?: Readonly<Record<string, string>>;
  /** Echo the output live (indented) while still capturing it: for minutes-long commands such as `docker build`. */
  readonly stream?: boolean;
}

/** A long-running command (a port-forward) that the caller stops. */
export interface RunningCommand {
  readonly commandLine: string;
  /** Settles when the process exits, on its own or after stop(). */
  readonly exited: Promise<CommandResult>;
  stop(): void;
}

/**
 * Every external program the CLI runs (kind, kubectl, istioctl, helm, docker) goes
 * through this, so tests can replace it with a recorder that returns scripted outputs.
 */
export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  start(command: string, args: readonly string[], options?: Pick<RunOptions, 'cwd'>): RunningCommand;
}

const safeArg = /^[\w@%+=:,./-]+$/;

/** `kind create cluster --name meshkit`: a command as a user would type it (POSIX-quoted where needed). */
export function formatCommand(command: string, args: readonly string[]): string {
  return [command, ...args].map((a) => (safeArg.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** A command that exited non-zero; the message carries the command, the exit code and its last output lines. */
export class CommandError extends Error {
  constructor(
    readonly commandLine: string,
    readonly result: CommandResult,
    readonly fix?: string,
  ) {
    const output = lastLines(`${result.stdout}\n${result.stderr}`, 20);
    super(`\`${commandLine}\` failed with exit code ${result.code}${output ? `:\n${indent(output, '    ')}` : ''}${fix ? `\n  fix: ${fix}` : ''}`);
    this.name = 'CommandError';
  }
}

/** Runs a command and returns its stdout; throws CommandError on a non-zero exit. */
export async function mustRun(runner: CommandRunner, command: string, args: readonly string[], options: RunOptions & { fix?: string } = {}): Promise<string> {
  const result = await runner.run(command, args, options);
  if (result.code !== 0) throw new CommandError(formatCommand(command, args), result, options.fix);
  return result.stdout;
}

export function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n').trim();
}

export function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}

/** A shell's convention: a process killed by a signal exits with 128 + the signal number (143 for SIGTERM). */
function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return signal ? 128 + (constants.signals[signal] ?? 0) : 1;
}

// Keep only the tail of chatty commands (docker build) in memory.
const maxCaptured = 256 * 1024;
const capped = (text: string) => (text.length > maxCaptured ? text.slice(-maxCaptured) : text);

/** The real runner: node:child_process, no shell, so arguments are never re-parsed. */
export class ProcessRunner implements CommandRunner {
  constructor(private readonly echo: (text: string) => void = (text) => process.stderr.write(text)) {}

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = '';
      const child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ? { ...process.env, ...options.env } : undefined,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let timedOut = false;
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), child.kill('SIGTERM')), options.timeoutMs);
      const onData = (chunk: Buffer, into: 'out' | 'err') => {
        const text = chunk.toString('utf8');
        if (into === 'out') stdout = capped(stdout + text);
        else stderr = capped(stderr + text);
        if (options.stream) this.echo(indent(text.replace(/\n$/, ''), '    │ ') + '\n');
      };
      child.stdout.on('data', (chunk: Buffer) => onData(chunk, 'out'));
      child.stderr.on('data', (chunk: Buffer) => onData(chunk, 'err'));
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = error.code === 'ENOENT' ? 127 : 1;
        resolve({ code, stdout, stderr: code === 127 ? `${command}: command not found` : error.message });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: timedOut ? 124 : exitCode(code, signal), stdout, stderr: timedOut ? `${stderr}\n(killed after ${options.timeoutMs} ms)` : stderr });
      });
      child.stdin.on('error', () => undefined); // a command that exits without reading its input is not our failure
      child.stdin.end(options.input);
    });
  }

  start(command: string, args: readonly string[], options: Pick<RunOptions, 'cwd'> = {}): RunningCommand {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout = capped(stdout + chunk.toString('utf8'))));
    child.stderr.on('data', (chunk: Buffer) => (stderr = capped(stderr + chunk.toString('utf8'))));
    const exited = new Promise<CommandResult>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: error.code === 'ENOENT' ? 127 : 1, stdout, stderr: error.message }));
      child.on('close', (code, signal) => resolve({ code: exitCode(code, signal), stdout, stderr }));
    });
    return { commandLine: formatCommand(command, args), exited, stop: () => child.kill('SIGTERM') };
  }
}
