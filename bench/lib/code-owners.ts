/**
 * The names bench:shop-profile gives the owners of a profile's frames, and the groups the report
 * adds them up to: meshkit's own code (`meshkit: <folder>`), an npm package (`npm: <name>`), or the
 * runtime (Node and V8), which runs work other code asks for.
 */

/** Owners that are the runtime (what code asks to work), not code that asks. */
export const RUNTIME_OWNERS = ['Node: JavaScript internals', 'V8: builtins', 'V8: garbage collection', 'native (event loop, system calls, compiler)'] as const;

export const isRuntime = (owner: string): boolean => (RUNTIME_OWNERS as readonly string[]).includes(owner);

/** The groups, in the order the report gives them. */
export const OWNER_GROUPS = ["meshkit's code", 'npm packages', ...RUNTIME_OWNERS] as const;

/** The group an owner adds up to; anything else (a file outside the bundle, unmapped code) is 'other'. */
export function groupOf(owner: string): string {
  if (owner.startsWith('meshkit: ')) return "meshkit's code";
  if (owner.startsWith('npm: ')) return 'npm packages';
  return isRuntime(owner) ? owner : 'other';
}
