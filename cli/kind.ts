import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectionFromKubeconfig, type ClusterApi } from './cluster-api.js';
import { settings, type Context } from './context.js';
import { CommandError, mustRun, type CommandRunner } from './runner.js';

/** True when `kind get clusters` lists the meshkit cluster. */
export async function clusterExists(runner: CommandRunner): Promise<boolean> {
  const result = await runner.run('kind', ['get', 'clusters']);
  if (result.code === 127) throw new Error('kind is not installed (not found on PATH): `make doctor` says what to install');
  if (result.code !== 0) throw new CommandError('kind get clusters', result, 'check that Docker runs (`docker info`); `make doctor` checks everything');
  return result.stdout.split('\n').some((line) => line.trim() === settings.clusterName);
}

export function createClusterArgs(ctx: Pick<Context, 'repoRoot' | 'timeouts'>): string[] {
  return [
    'create',
    'cluster',
    '--name',
    settings.clusterName,
    '--config',
    join(ctx.repoRoot, 'kind-config.yaml'),
    '--wait',
    `${ctx.timeouts.clusterCreateSeconds}s`,
  ];
}

/** A connection to the kind cluster, plus the kubeconfig file the CLI hands to kubectl, helm and istioctl. */
export interface Session {
  readonly api: ClusterApi;
  /**
   * Written from `kind get kubeconfig` into the CLI's work dir and passed explicitly with
   * --kubeconfig: every command targets this cluster whatever the user's current context is.
   */
  readonly kubeconfig: string;
}

export async function openSession(ctx: Pick<Context, 'runner' | 'connect' | 'workDir'>): Promise<Session> {
  const text = await mustRun(ctx.runner, 'kind', ['get', 'kubeconfig', '--name', settings.clusterName], {
    fix: `the cluster may not exist: \`make up\` creates it (\`kind get clusters\` lists what exists)`,
  });
  mkdirSync(ctx.workDir, { recursive: true });
  const kubeconfig = join(ctx.workDir, 'kubeconfig');
  writeFileSync(kubeconfig, text, { mode: 0o600 });
  return { api: ctx.connect(connectionFromKubeconfig(text)), kubeconfig };
}
