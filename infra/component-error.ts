/**
 * Raised when a piece of test infrastructure cannot be provisioned or started.
 * The message always names the component and the fix, because a bare
 * "spawn java ENOENT" in CI tells nobody what to install.
 */
export class ComponentError extends Error {
  constructor(
    readonly component: string,
    problem: string,
    readonly fix: string,
  ) {
    super(`[${component}] ${problem}\n  fix: ${fix}`);
    this.name = 'ComponentError';
  }
}
