/**
 * Collects every rule a construct's props break and reports them together,
 * each naming the prop, the value received and the fix, so one synth run
 * shows the whole list instead of one error per attempt.
 */
export class PropsValidator {
  private readonly problems: string[] = [];

  constructor(private readonly subject: string) {}

  /** Records `message` when `ok` is false. Messages follow "'prop' (value) ...: fix". */
  check(ok: boolean, message: () => string): this {
    if (!ok) this.problems.push(message());
    return this;
  }

  /** Records a problem unconditionally. */
  fail(message: string): this {
    this.problems.push(message);
    return this;
  }

  get errors(): readonly string[] {
    return this.problems;
  }

  /** Throws one error listing every recorded problem, if any. */
  throwIfInvalid(): void {
    if (this.problems.length === 0) return;
    const list = this.problems.map((p) => `  - ${p}`).join('\n');
    throw new MeshkitValidationError(`${this.subject}: invalid props\n${list}`, this.problems);
  }
}

export class MeshkitValidationError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
    this.name = 'MeshkitValidationError';
  }
}

/** Kubernetes DNS-1035 label: lower-case alphanumerics and '-', starting with a letter, at most 63. */
export function isDnsLabel(value: string): boolean {
  return /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value);
}
