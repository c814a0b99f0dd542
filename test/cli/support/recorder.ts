import { formatCommand, type CommandResult, type CommandRunner, type RunOptions, type RunningCommand } from '../../../cli/runner.js';

export interface Script {
  /** The exact command line (as formatCommand prints it), or a pattern. */
  readonly match: string | RegExp;
  /** What the command "prints"; a function sees the current world state. */
  readonly result?: Partial<CommandResult> | ((line: string) => Partial<CommandResult>);
  /** Side effect on the simulated world (e.g. `istioctl install` creates istiod). */
  readonly effect?: (line: string) => void;
  /** Used once, then the next matching script answers. */
  readonly once?: boolean;
}

/**
 * A CommandRunner that runs nothing: it records each command line and answers from
 * scripts. A command without a script fails the test (it is recorded in `unscripted`
 * and answered with exit code 127), so tests see every command the CLI would run.
 */
export class Recorder implements CommandRunner {
  readonly calls: string[] = [];
  readonly unscripted: string[] = [];
  readonly started: { line: string; finish: (result?: Partial<CommandResult>) => void; stopped: boolean }[] = [];
  private readonly scripts: Script[] = [];

  on(match: Script['match'], result?: Script['result'], effect?: Script['effect']): this {
    this.scripts.push({ match, result, effect });
    return this;
  }

  once(match: Script['match'], result?: Script['result'], effect?: Script['effect']): this {
    this.scripts.push({ match, result, effect, once: true });
    return this;
  }

  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    // Variables set for the command are part of what was run: recorded as a shell would show them.
    const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v} `);
    const line = `${env.join('')}${formatCommand(command, args)}`;
    this.calls.push(line);
    const index = this.scripts.findIndex((s) => (typeof s.match === 'string' ? s.match === line : s.match.test(line)));
    const script = this.scripts[index];
    if (!script) {
      this.unscripted.push(line);
      return { code: 127, stdout: '', stderr: `unscripted command: ${line}` };
    }
    if (script.once) this.scripts.splice(index, 1);
    const result = typeof script.result === 'function' ? script.result(line) : (script.result ?? {});
    script.effect?.(line);
    return { code: 0, stdout: '', stderr: '', ...result };
  }

  start(command: string, args: readonly string[]): RunningCommand {
    const line = formatCommand(command, args);
    this.calls.push(line);
    let finish: (result?: Partial<CommandResult>) => void = () => undefined;
    const exited = new Promise<CommandResult>((resolve) => {
      finish = (result = {}) => resolve({ code: 0, stdout: '', stderr: '', ...result });
    });
    const entry = { line, finish, stopped: false };
    this.started.push(entry);
    return {
      commandLine: line,
      exited,
      stop: () => {
        entry.stopped = true;
        finish({ code: 143 });
      },
    };
  }
}
