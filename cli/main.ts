/**
 * meshkit's bring-up CLI: `make doctor|up|down|status|images|apply|dashboards|smoke` run
 * `tsx cli/main.ts <command>`. See cli/README.md.
 */
import { freemem } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cacheRoot, repoRoot } from '../infra/cache.js';
import { KubeClient } from '../infra/kube-client.js';
import { kubeClusterApi } from './cluster-api.js';
import { defaultTimeouts, readSysctl, settings, type Context } from './context.js';
import { dashboards } from './dashboards.js';
import { printChecks, runDoctor } from './doctor.js';
import { clusterExists } from './kind.js';
import { loadDist } from '../manifests/parse.js';
import { runPlan } from './plan.js';
import { ProcessRunner, mustRun } from './runner.js';
import { printSmoke, smoke } from './smoke.js';
import { status } from './status.js';
import { applyStepIds, Bringup, type PlatformInputs } from './up.js';

export const usage = `usage: tsx cli/main.ts <command> [options]

  doctor       check docker, kind, kubectl, istioctl, helm, memory and ports; say what to install
  up           create or converge the kind cluster: Istio, add-ons, Strimzi, Kafka, the shop
               --skip-images   do not rebuild and load the service images
  status       what is in place and what \`up\` would still do (exit 1 when something is pending)
  images       build the service images, load them into kind, restart what changed
  apply        re-apply dist/ and the Secrets to the running cluster, wait until ready
  dashboards   port-forward Kiali, Grafana and Prometheus (Ctrl-C stops)
  smoke        register, log in, order, see the notification through ${settings.ingressUrl}
               (MESHKIT_URL overrides the address)
  down         delete the kind cluster`;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export function realContext(): Context {
  return {
    runner: new ProcessRunner(),
    connect: (connection) => kubeClusterApi(new KubeClient(connection)),
    print: (line) => console.log(line),
    repoRoot,
    // The git-ignored cache (MESHKIT_CACHE moves it): the kind kubeconfig holds a client key.
    workDir: join(cacheRoot, 'cli'),
    env: process.env,
    timeouts: defaultTimeouts,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    portFree,
    hostFreeMemory: () => freemem(),
    sysctl: readSysctl,
  };
}

/** The platform as synthesized: dist/ for the manifests, the construct tree for the Secrets they reference. */
async function realInputs(ctx: Context): Promise<PlatformInputs> {
  // Loaded lazily: building the platform needs the generated imports/, which `make synth` provides.
  const { buildPlatform } = await import('../charts/platform-app.js');
  let objects: ReturnType<PlatformInputs['objects']> | undefined;
  let secrets: ReturnType<PlatformInputs['secrets']> | undefined;
  return {
    objects: () => (objects ??= loadDist(ctx.repoRoot)),
    secrets: () => (secrets ??= buildPlatform().requiredSecrets),
  };
}

export interface MainDeps {
  readonly ctx: Context;
  readonly inputs: () => Promise<PlatformInputs>;
  /** Settles when the user asks a long-running command (dashboards) to stop; called only by such commands. */
  readonly interrupted: () => Promise<void>;
}

/** Runs one command; resolves to the process exit code. */
export async function main(argv: readonly string[], deps: MainDeps): Promise<number> {
  const [command, ...flags] = argv;
  const { ctx } = deps;
  const unknown = flags.filter((f) => !(command === 'up' && f === '--skip-images'));
  if (unknown.length > 0) {
    ctx.print(`unknown option(s) for ${command}: ${unknown.join(' ')}\n\n${usage}`);
    return 2;
  }
  switch (command) {
    case 'doctor': {
      const checks = await runDoctor(ctx);
      ctx.print('meshkit doctor: what `make up` needs');
      printChecks(ctx.print, checks);
      const failed = checks.filter((c) => c.verdict === 'fail').length;
      ctx.print(failed === 0 ? 'ready for `make up`' : `${failed} problem(s) to fix first`);
      return failed === 0 ? 0 : 1;
    }
    case 'up':
    case 'apply': {
      const bringup = new Bringup(ctx, await deps.inputs(), { skipImages: flags.includes('--skip-images') });
      try {
        const results = await runPlan(ctx, command, command === 'up' ? bringup.steps() : bringup.steps(applyStepIds, 'apply'));
        const ok = results.every((r) => r.outcome === 'ran' || r.outcome === 'skipped');
        if (ok) ctx.print(`shop: ${settings.ingressUrl} · check it: make smoke · dashboards: make dashboards · stop: make down`);
        return ok ? 0 : 1;
      } finally {
        bringup.close();
      }
    }
    case 'images': {
      const bringup = new Bringup(ctx, await deps.inputs());
      try {
        const results = await runPlan(ctx, 'images', bringup.steps(['cluster', 'images'], 'apply'));
        return results.every((r) => r.outcome !== 'failed' && r.outcome !== 'not run') ? 0 : 1;
      } finally {
        bringup.close();
      }
    }
    case 'status': {
      const bringup = new Bringup(ctx, await deps.inputs());
      try {
        return await status(ctx, bringup);
      } finally {
        bringup.close();
      }
    }
    case 'dashboards': {
      if (!(await clusterExists(ctx.runner))) {
        ctx.print(`no kind cluster ${settings.clusterName}: \`make up\` first`);
        return 1;
      }
      const bringup = new Bringup(ctx, await deps.inputs());
      try {
        return await dashboards(ctx, await bringup.open(), deps.interrupted());
      } finally {
        bringup.close();
      }
    }
    case 'smoke': {
      const baseUrl = ctx.env.MESHKIT_URL || settings.ingressUrl;
      return printSmoke(ctx.print, baseUrl, await smoke({ baseUrl })) ? 0 : 1;
    }
    case 'down': {
      if (!(await clusterExists(ctx.runner))) {
        ctx.print(`no kind cluster ${settings.clusterName}: nothing to delete`);
        return 0;
      }
      await mustRun(ctx.runner, 'kind', ['delete', 'cluster', '--name', settings.clusterName], { stream: true });
      ctx.print(`deleted kind cluster ${settings.clusterName} (its kubectl context kind-${settings.clusterName} is gone too)`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      ctx.print(usage);
      return command === undefined ? 2 : 0;
    default:
      ctx.print(`unknown command '${command}'\n\n${usage}`);
      return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const ctx = realContext();
  // Only dashboards traps Ctrl-C (to stop its port-forwards); elsewhere it ends the process as usual.
  const interrupted = () =>
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  main(process.argv.slice(2), { ctx, inputs: () => realInputs(ctx), interrupted }).then(
    // exitCode, not exit(): output piped to make must flush first.
    (code) => (process.exitCode = code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
