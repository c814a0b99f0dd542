import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../constructs/versions.js';
import type { ExternalSecretRef } from '../constructs/postgres-database.js';
import { applyObjects, summarize } from './apply.js';
import type { KubeObject } from './cluster-api.js';
import { findIstio, settings, type Context } from './context.js';
import { waitUntilTokenAccepted } from './gateway-auth.js';
import { diagnose, type DiagnoseDeps } from './diagnose.js';
import { printChecks, runDoctor } from './doctor.js';
import { buildAndLoadImages } from './images.js';
import { addonRefs, gatewayRef, istiodRef, istioOperatorYaml, loadAddons, probeAddons, probeIstio } from './istio.js';
import { clusterExists, createClusterArgs, openSession, type Session } from './kind.js';
import { parseObjects } from '../manifests/parse.js';
import { inPhase } from './manifests.js';
import type { Probe, Step } from './plan.js';
import { describeRef, readiness, refOf, type Ref } from './readiness.js';
import { CommandError, mustRun } from './runner.js';
import { ensureSecrets, probeSecrets } from './secrets.js';
import { chartVersionLabel, helmInstallArgs, helmShowCrdsArgs, operatorRef, probeStrimzi, strimziCrdRefs, strimziRelease } from './strimzi.js';
import { waitUntilReady } from './wait.js';

export interface PlatformInputs {
  /** The synthesized manifests (dist/ for real). */
  readonly objects: () => readonly KubeObject[];
  /** Secrets the manifests reference but never contain (buildPlatform().requiredSecrets for real). */
  readonly secrets: () => readonly ExternalSecretRef[];
}

export interface UpOptions {
  /** Skip `docker build` + `kind load` (images already loaded). */
  readonly skipImages?: boolean;
}

export const upStepIds = [
  'preflight',
  'cluster',
  'namespaces',
  'secrets',
  'images',
  'istio',
  'addons',
  'strimzi',
  'kafka',
  'shop',
  'databases',
  'services',
  'gateway-auth',
] as const;
export type UpStepId = (typeof upStepIds)[number];

/** Steps of `make apply`: the platform only, on a cluster `make up` prepared. */
export const applyStepIds: readonly UpStepId[] = ['cluster', 'namespaces', 'secrets', 'kafka', 'shop', 'databases', 'services'];

async function allExist(session: Session, objects: readonly KubeObject[]): Promise<Probe> {
  const missing: string[] = [];
  for (const o of objects) {
    try {
      if (!(await session.api.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace))) missing.push(describeRef(refOf(o)));
    } catch {
      missing.push(describeRef(refOf(o))); // kind not served yet
    }
  }
  return missing.length === 0
    ? { done: true, detail: `all ${objects.length} objects exist` }
    : { done: false, detail: `${missing.length} of ${objects.length} objects missing${missing.length <= 3 ? `: ${missing.join(', ')}` : ''}` };
}

async function allReady(session: Session, refs: readonly Ref[], what: string): Promise<Probe> {
  const pending: string[] = [];
  for (const ref of refs) {
    const r = readiness(await session.api.get(ref.apiVersion, ref.kind, ref.name, ref.namespace));
    if (!r.ready) pending.push(`${ref.name} (${r.detail})`);
  }
  return pending.length === 0
    ? { done: true, detail: `${refs.length} ${what} ready` }
    : { done: false, detail: `${pending.length} of ${refs.length} ${what} not ready: ${pending.join(', ')}` };
}

/**
 * The bring-up as an ordered list of idempotent steps. Order is what makes it work:
 * namespaces first (Helm installs Strimzi into one, Secrets live in one); Istio's CRDs and
 * istiod before any mesh resource; the Strimzi operator and its CRDs before the Kafka
 * resources; Kafka Ready before the services that connect to it; databases ready before
 * the services that migrate them at start-up; the services before the check that the gateway
 * accepts the user service's tokens (istiod can fetch the JWKS only once the user service runs).
 */
export class Bringup {
  private session: Session | undefined;

  constructor(
    private readonly ctx: Context,
    private readonly inputs: PlatformInputs,
    private readonly options: UpOptions = {},
  ) {}

  async open(): Promise<Session> {
    this.session ??= await openSession(this.ctx);
    return this.session;
  }

  close(): void {
    this.session?.api.close();
  }

  private async deps(): Promise<DiagnoseDeps> {
    const session = await this.open();
    return {
      api: session.api,
      logs: (namespace, pod, container, { previous, tail }) =>
        mustRun(this.ctx.runner, 'kubectl', [
          '--kubeconfig',
          session.kubeconfig,
          'logs',
          '--namespace',
          namespace,
          pod,
          '--container',
          container,
          `--tail=${tail}`,
          ...(previous ? ['--previous'] : []),
        ]),
    };
  }

  private wait(refs: readonly Ref[], what: string, timeoutMs: number): Promise<void> {
    return this.deps().then((deps) => waitUntilReady(this.ctx, deps, refs, { timeoutMs, what }));
  }

  private phase(phase: 'namespaces' | 'kafka' | 'shop'): KubeObject[] {
    return inPhase(this.inputs.objects(), phase);
  }

  /** Server-side applies in dependency order; `timeoutMs` bounds the wait for any CRDs among the objects. */
  private async apply(objects: readonly KubeObject[], timeoutMs: number): Promise<string> {
    return summarize(await applyObjects(this.ctx, await this.deps(), objects, { timeoutMs }));
  }

  steps(ids: readonly UpStepId[] = upStepIds, mode: 'up' | 'apply' = 'up'): Step[] {
    const all = this.allSteps(mode);
    return ids.map((id) => all[id]);
  }

  private allSteps(mode: 'up' | 'apply'): Record<UpStepId, Step> {
    const ctx = this.ctx;
    const t = ctx.timeouts;
    const kafkaObjects = () => this.phase('kafka');
    const kafkaRefs = () =>
      kafkaObjects()
        .filter((o) => o.kind === 'Kafka' || o.kind === 'KafkaTopic')
        .map(refOf);
    const workloads = (kind: 'StatefulSet' | 'Deployment') => () =>
      this.phase('shop')
        .filter((o) => o.kind === kind && o.apiVersion === 'apps/v1')
        .map(refOf);
    const databases = workloads('StatefulSet');
    const deployments = workloads('Deployment');

    return {
      preflight: {
        id: 'preflight',
        title: 'preflight: tools, versions, memory, ports',
        run: async () => {
          const checks = await runDoctor(ctx);
          printChecks((line) => ctx.print(`  ${line}`), checks);
          const failed = checks.filter((c) => c.verdict === 'fail');
          if (failed.length > 0)
            throw new Error(`${failed.map((c) => c.name).join(', ')} not ready: fix what is marked FAIL above (\`make doctor\` re-checks)`);
          const warned = checks.filter((c) => c.verdict === 'warn').length;
          return `${checks.length - warned} checks ok${warned > 0 ? `, ${warned} warnings` : ''}`;
        },
      },
      cluster: {
        id: 'cluster',
        title: `kind cluster "${settings.clusterName}" (${versions.kindNodeImage})`,
        probe: async () =>
          (await clusterExists(ctx.runner)) ? { done: true, detail: `cluster ${settings.clusterName} exists` } : { done: false, detail: 'no cluster yet' },
        run: async () => {
          if (mode === 'apply') throw new Error(`the kind cluster ${settings.clusterName} does not exist: \`make up\` creates it`);
          await mustRun(ctx.runner, 'kind', createClusterArgs(ctx), {
            stream: true,
            fix: 'a port in use (8080/8443) or too little Docker memory are the usual causes: `make doctor`',
          });
          return `created; kubectl context kind-${settings.clusterName}`;
        },
      },
      namespaces: {
        id: 'namespaces',
        title: 'namespaces',
        alwaysRun: true,
        probe: async () => allExist(await this.open(), this.phase('namespaces')),
        run: () => this.apply(this.phase('namespaces'), t.servicesMs),
      },
      secrets: {
        id: 'secrets',
        title: 'database Secrets (random passwords, created only when missing)',
        probe: async () => probeSecrets((await this.open()).api, this.inputs.secrets()),
        run: async () => {
          const { created, kept } = await ensureSecrets((await this.open()).api, this.inputs.secrets());
          return `created ${created.length}${created.length > 0 ? ` (${created.join(', ')})` : ''}, kept ${kept.length}`;
        },
      },
      images: {
        id: 'images',
        title: 'service images (docker build, kind load)',
        alwaysRun: !this.options.skipImages,
        probe: async () => ({ done: Boolean(this.options.skipImages), detail: this.options.skipImages ? 'skipped by --skip-images' : 'rebuilt every run' }),
        run: async () => buildAndLoadImages(ctx, await this.open()),
      },
      istio: {
        id: 'istio',
        title: `Istio ${versions.istio} (minimal profile + ingress gateway on NodePort)`,
        probe: async () => probeIstio((await this.open()).api),
        run: async () => {
          const session = await this.open();
          mkdirSync(ctx.workDir, { recursive: true });
          const operatorFile = join(ctx.workDir, 'istio-operator.yaml');
          writeFileSync(operatorFile, istioOperatorYaml());
          try {
            await mustRun(ctx.runner, findIstio(ctx).istioctl, ['install', '--skip-confirmation', '--kubeconfig', session.kubeconfig, '-f', operatorFile], {
              stream: true,
            });
          } catch (error) {
            // istioctl waits for its own components; say which one is stuck and why.
            if (!(error instanceof CommandError)) throw error;
            const why = await Promise.all([istiodRef, gatewayRef].map(async (ref) => diagnose(await this.deps(), ref)));
            throw new Error(`${error.message}\n\n${why.join('\n\n')}`);
          }
          await this.wait([istiodRef, gatewayRef], 'istiod and the ingress gateway', t.istioMs);
          return (await probeIstio(session.api)).detail;
        },
      },
      addons: {
        id: 'addons',
        title: 'Prometheus, Grafana, Kiali (Istio samples/addons)',
        probe: async () => probeAddons((await this.open()).api),
        run: async () => {
          const applied = await this.apply(loadAddons(findIstio(ctx).addonsDir), t.addonsMs);
          await this.wait(addonRefs, 'the observability add-ons', t.addonsMs);
          return applied;
        },
      },
      strimzi: {
        id: 'strimzi',
        title: `Strimzi ${versions.strimzi} operator (Helm), watching namespace ${settings.strimziNamespace}`,
        probe: async () => {
          const session = await this.open();
          return probeStrimzi(ctx.runner, session.api, session.kubeconfig);
        },
        run: async () => {
          const session = await this.open();
          const before = await strimziRelease(ctx.runner, session.kubeconfig);
          await mustRun(ctx.runner, 'helm', helmInstallArgs(session.kubeconfig), {
            stream: true,
            fix: 'Helm 3.8+ pulls oci:// charts; behind a proxy set HTTPS_PROXY',
          });
          let crds = '';
          if (before && before.chart !== chartVersionLabel) {
            // `helm upgrade` never touches CRDs (Helm's rule); the new operator needs the new ones.
            const text = await mustRun(ctx.runner, 'helm', helmShowCrdsArgs());
            crds = `; CRDs upgraded: ${await this.apply(parseObjects(text, 'helm show crds'), t.strimziMs)}`;
          }
          await this.wait([operatorRef, ...strimziCrdRefs], 'the Strimzi operator and its CRDs', t.strimziMs);
          return `${before ? `upgraded from ${before.chart}` : 'installed'} ${chartVersionLabel}${crds}`;
        },
      },
      kafka: {
        id: 'kafka',
        title: 'Kafka cluster and topics (Strimzi, KRaft)',
        alwaysRun: true,
        probe: async () => allReady(await this.open(), kafkaRefs(), 'Kafka resources'),
        run: async () => {
          const applied = await this.apply(kafkaObjects(), t.kafkaMs);
          await this.wait(kafkaRefs(), 'the Kafka cluster and its topics to be Ready', t.kafkaMs);
          return `${applied}; ${kafkaRefs().length} Ready`;
        },
      },
      shop: {
        id: 'shop',
        title: 'shop manifests (dist/, server-side apply in dependency order)',
        alwaysRun: true,
        probe: async () => allExist(await this.open(), this.phase('shop')),
        run: () => this.apply(this.phase('shop'), t.servicesMs),
      },
      databases: {
        id: 'databases',
        title: 'databases ready (StatefulSets)',
        probe: async () => allReady(await this.open(), databases(), 'databases'),
        run: async () => {
          await this.wait(databases(), 'the databases', t.databasesMs);
          return `${databases().length} databases ready`;
        },
      },
      services: {
        id: 'services',
        title: 'services ready (Deployments)',
        probe: async () => allReady(await this.open(), deployments(), 'services'),
        run: async () => {
          await this.wait(deployments(), 'the services', t.servicesMs);
          return `${deployments().length} services ready; shop at ${settings.ingressUrl}`;
        },
      },
      'gateway-auth': {
        id: 'gateway-auth',
        title: "gateway accepts the user service's tokens (istiod has fetched its JWKS)",
        // Registers a throwaway user through the gateway: no probe, `make status` must change nothing.
        alwaysRun: true,
        run: async () => {
          const detail = await waitUntilTokenAccepted(ctx, {
            baseUrl: settings.ingressUrl,
            restartIstiod: async () => {
              const session = await this.open();
              // What `kubectl rollout restart` does: a new pod-template annotation starts a rollout.
              await session.api.mergePatch(istiodRef.apiVersion, istiodRef.kind, istiodRef.name, istiodRef.namespace, {
                spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date(ctx.now()).toISOString() } } } },
              });
              await this.wait([istiodRef], 'istiod after its restart', t.istioMs);
            },
          });
          return `${detail}; \`make smoke\` runs the whole flow`;
        },
      },
    };
  }
}
