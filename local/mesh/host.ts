/**
 * The host side of the mesh runtime: what it needs from the machine (Linux, root, `ip`,
 * `iptables`, `setpriv`) and one way to run a command and fail with its stderr.
 */
import { execFile } from 'node:child_process';
import { aptInstall, which } from '../../infra/tools.js';

/** Raised when this machine cannot run the mesh at all; `make mesh` prints it and exits 1. */
export class MeshPreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MeshPreflightError';
  }
}

/**
 * Linux and root (network namespaces, veth pairs, a bridge and iptables need CAP_NET_ADMIN
 * and CAP_SYS_ADMIN), with `ip`, `iptables` and `setpriv` on PATH. As root on Debian the
 * missing `iptables` is installed with apt (Istio's istio-iptables and the service proxy call it).
 */
export function preflight(): void {
  if (process.platform !== 'linux') {
    throw new MeshPreflightError(
      `make mesh runs each pod in a Linux network namespace; this is ${process.platform}. Use \`make dev\` (plain processes) or \`make up\` (kind) here.`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new MeshPreflightError(
      'make mesh needs root: it creates network namespaces, veth pairs, a bridge and iptables rules. Run it as root (sudo make mesh), or use `make dev` without a mesh.',
    );
  }
  if (!which('ip')) throw new MeshPreflightError('`ip` (iproute2) is not on PATH: apt-get install iproute2');
  if (!which('setpriv')) throw new MeshPreflightError('`setpriv` (util-linux) is not on PATH: apt-get install util-linux');
  if (!which('iptables')) {
    aptInstall('mesh', ['iptables'], 'apt-get install iptables (Debian) and re-run');
    if (!which('iptables')) throw new MeshPreflightError('`iptables` is not on PATH: apt-get install iptables');
  }
}

/** Runs a command to completion; rejects with the command line, how it ended and what it printed. */
export function sh(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const child = execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) {
        resolve(String(stdout));
        return;
      }
      // How it ended (exit code, or the timeout's signal) and what it said: a command may print only a warning before it fails.
      const { code, signal, killed } = error as { code?: number | string; signal?: string; killed?: boolean };
      const end = killed && signal ? `killed by ${signal} after the ${timeoutMs} ms timeout` : signal ? `killed by ${signal}` : `exit code ${code ?? '?'}`;
      // Both streams: Istio's tools log their errors to stdout (istio's log target defaults to it).
      const said = [String(stderr).trim(), String(stdout).trim().slice(-4000)].filter(Boolean).join('\n') || error.message;
      reject(new Error(`\`${command} ${args.join(' ')}\` failed (${end}): ${said}`));
    });
    if (options.input !== undefined) {
      // A command that exits before reading its input (it failed) closes the pipe: its exit status tells, not an EPIPE here.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
  });
}

/** `sh`, ignoring failure (for cleanup of what may already be gone). */
export async function shQuiet(command: string, args: readonly string[]): Promise<void> {
  await sh(command, args).catch(() => undefined);
}
