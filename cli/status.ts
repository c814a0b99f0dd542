import { settings, type Context } from './context.js';
import { clusterExists } from './kind.js';
import type { Bringup, UpStepId } from './up.js';

const probed: readonly UpStepId[] = ['cluster', 'namespaces', 'secrets', 'istio', 'addons', 'strimzi', 'kafka', 'shop', 'databases', 'services'];

/**
 * What is in place and what `make up` would still do, from the same probes `up` uses to
 * skip steps. Changes nothing. Exit code 0 when everything is done, 1 otherwise.
 */
export async function status(ctx: Pick<Context, 'print' | 'runner'>, bringup: Bringup): Promise<number> {
  ctx.print(`meshkit status: kind cluster "${settings.clusterName}"`);
  if (!(await clusterExists(ctx.runner))) {
    ctx.print(`  pending  cluster      not created: \`make up\` creates it`);
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
