import { settings, type Context } from './context.js';
import { addons } from './istio.js';
import type { Session } from './kind.js';
import type { CommandResult, RunningCommand } from './runner.js';

export function portForwardArgs(kubeconfig: string, addon: (typeof addons)[number]): string[] {
  return ['--kubeconfig', kubeconfig, 'port-forward', '--namespace', settings.istioNamespace, `service/${addon.name}`, `${addon.port}:${addon.port}`];
}

/**
 * Port-forwards Kiali, Grafana and Prometheus to localhost (kubectl binds 127.0.0.1
 * only) until `until` settles (Ctrl-C) or one forward dies; then stops them all.
 * Returns 0 when the user stopped it, 1 when a forward failed.
 */
export async function dashboards(ctx: Pick<Context, 'runner' | 'print'>, session: Session, until: Promise<void>): Promise<number> {
  const missing: string[] = [];
  for (const addon of addons) {
    if (!(await session.api.get('v1', 'Service', addon.name, settings.istioNamespace))) missing.push(addon.name);
  }
  if (missing.length > 0) {
    ctx.print(`missing Service(s) ${missing.join(', ')} in ${settings.istioNamespace}: \`make up\` installs the add-ons (step addons)`);
    return 1;
  }
  const forwards: { addon: (typeof addons)[number]; running: RunningCommand }[] = addons.map((addon) => ({
    addon,
    running: ctx.runner.start('kubectl', portForwardArgs(session.kubeconfig, addon)),
  }));
  for (const { addon } of forwards) ctx.print(`  ${addon.name.padEnd(11)} http://localhost:${addon.port}${addon.path === '/' ? '' : addon.path}`);
  ctx.print('port-forwarding; Ctrl-C stops');

  const died = forwards.map(({ addon, running }) => running.exited.then((result): [string, CommandResult] => [addon.name, result]));
  const first = await Promise.race([until.then(() => undefined), ...died]);
  for (const { running } of forwards) running.stop();
  await Promise.all(forwards.map((f) => f.running.exited));
  if (first === undefined) return 0;
  const [name, result] = first;
  ctx.print(`the ${name} port-forward exited (code ${result.code}): ${`${result.stderr}${result.stdout}`.trim().split('\n').slice(-3).join(' | ')}`);
  ctx.print(
    /address already in use|unable to listen/i.test(result.stderr)
      ? 'hint: another program uses that local port; stop it and re-run `make dashboards`'
      : 'hint: `make status` shows whether the add-ons are ready',
  );
  return 1;
}
