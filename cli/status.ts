import { settings, type Context } from './context.js';
import { clusterExists } from './kind.js';
import { upStepIds, type Bringup, type UpStepId } from './up.js';

const probed: readonly UpStepId[] = ['cluster', 'namespaces', 'secrets', 'istio', 'addons', 'strimzi', 'kafka', 'shop', 'databases', 'services'];

/**
 * What is in place and what `make up` would still do, from the same probes `up` uses to
 * skip steps; without a cluster (or without kind), every step `up` would take. Changes nothing
 * (the Makefile target does not synthesize either). Exit code 0 when everything is done, 1 otherwise.
 */
export async function status(ctx: Pick<Context, 'print' | 'runner'>, bringup: Bringup): Promise<number> {
  ctx.print(`meshkit status: kind cluster "${settings.clusterName}"`);
  let exists: boolean;
  let why: string;
  try {
    exists = await clusterExists(ctx.runner);
    why = 'not created';
  } catch (error) {
    exists = false;
    why = `kind cannot tell (${(error instanceof Error ? error.message : String(error)).split('\n')[0]}); \`make doctor\` checks what \`up\` needs`;
  }
  if (!exists) {
    ctx.print(`  pending  cluster      ${why}: \`make up\` creates it`);
    ctx.print(`\`make up\` would do, in order:`);
    for (const [index, step] of bringup.steps(upStepIds).entries()) ctx.print(`  ${String(index + 1).padStart(2)}. ${step.title}`);
    return 1;
  }
  let pending = 0;
  const steps = bringup.steps(probed);
  for (const step of steps) {
    let line: string;
    try {
      const probe = await step.probe!();
      if (!probe.done) pending++;
      line = `${probe.done ? 'done   ' : 'pending'}  ${step.id.padEnd(11)}  ${probe.detail}`;
    } catch (error) {
      pending++;
      line = `unknown  ${step.id.padEnd(11)}  ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`;
    }
    ctx.print(`  ${line}`);
  }
  ctx.print(
    pending === 0 ? `all done: the shop answers on ${settings.ingressUrl} (\`make smoke\` checks it)` : `${pending} pending: \`make up\` converges them`,
  );
  return pending === 0 ? 0 : 1;
}
