import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../constructs/versions.js';
import { findIstio, istioDownloadHint, settings, type Context } from './context.js';
import { addons } from './istio.js';
import { clusterExists } from './kind.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  readonly name: string;
  readonly verdict: Verdict;
  /** What was found (a version, an amount, "missing"). */
  readonly found: string;
  /** Exactly what to do when the verdict is not ok. */
  readonly fix?: string;
}

type Semver = [number, number, number];

/** The first `x.y[.z]` in a tool's version output (`kind v0.30.0 go1.24.6 linux/amd64` gives 0.30.0). */
export function parseVersion(text: string): Semver | undefined {
  const m = /v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

const atLeast = (v: Semver, min: Semver) => v[0] - min[0] || v[1] - min[1] || v[2] - min[2];
const show = (v: Semver) => v.join('.');
const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`;

/**
 * Minimums and why:
 * - kind 0.31: its release published the pinned node image (versions.kindNodeImage, kindest/node v1.34.3); kind supports a
 *   node image with the kind release it was built for.
 * - Helm 3.8: first release that pulls OCI charts (Strimzi's chart is at oci://quay.io/strimzi-helm) without an experimental flag.
 * - kubectl within one minor of the server (Kubernetes' version skew policy); it only fetches logs and port-forwards.
 * - Docker memory: the shop, Kafka and the databases request ~3 GiB (charts/platform.ts resourceBudget), plus the
 *   kind control plane, istiod, the gateway, the Strimzi operator and the add-ons: ~6 GiB is the floor, 8 GiB is comfortable.
 */
export const minimums = {
  kind: versions.kind.split('.').map(Number) as Semver,
  helm: [3, 8, 0] as Semver,
  dockerMemoryFailBytes: 6 * 1024 ** 3,
  dockerMemoryWarnBytes: 8 * 1024 ** 3,
  hostFreeWarnBytes: 4 * 1024 ** 3,
  /**
   * kind's known issue "Pod errors due to too many open files": inotify limits are not namespaced, so
   * every kubelet, containerd shim and sidecar of the node shares the host user's; kind asks for these
   * (https://kind.sigs.k8s.io/docs/user/known-issues/#pod-errors-due-to-too-many-open-files). Ubuntu's
   * defaults (8192 watches, 128 instances) run out around two dozen pods with sidecars.
   */
  inotify: { 'fs.inotify.max_user_watches': 524_288, 'fs.inotify.max_user_instances': 512 } as Record<string, number>,
};

const install = {
  docker: 'install Docker Desktop or Docker Engine: https://docs.docker.com/get-docker/',
  kind: `install kind v${versions.kind} or newer: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or \`go install sigs.k8s.io/kind@v${versions.kind}\`)`,
  kubectl: `install kubectl ${versions.kubernetes.split('.').slice(0, 2).join('.')}: https://kubernetes.io/docs/tasks/tools/`,
  helm: 'install Helm 3.8 or newer: https://helm.sh/docs/intro/install/',
  istioctl: istioDownloadHint,
};

type Deps = Pick<Context, 'runner' | 'env' | 'repoRoot' | 'portFree' | 'hostFreeMemory' | 'sysctl'>;

/** The inotify limits kind needs on a Linux host; undefined when they cannot be read (no sysctl, not Linux). */
export function inotifyCheck(ctx: Deps): Check | undefined {
  if (!ctx.sysctl) return undefined;
  const found = Object.entries(minimums.inotify).map(([key, min]) => {
    const raw = ctx.sysctl!(key);
    return { key, min, raw, value: raw === undefined ? NaN : Number(raw) };
  });
  if (found.every((f) => f.raw === undefined))
    return { name: 'inotify', verdict: 'ok', found: 'not a Linux host (Docker Desktop sets the limits in its own VM)' };
  const shown = found.map((f) => `${f.key.replace('fs.inotify.', '')} ${Number.isFinite(f.value) ? f.value : '?'}`).join(', ');
  const low = found.filter((f) => !(f.value >= f.min));
  if (low.length === 0) return { name: 'inotify', verdict: 'ok', found: shown };
  return {
    name: 'inotify',
    verdict: 'fail',
    found: `${shown}: kind needs ${low.map((f) => `${f.key.replace('fs.inotify.', '')} >= ${f.min}`).join(' and ')} (pods fail with "too many open files")`,
    fix: `${low.map((f) => `sudo sysctl ${f.key}=${f.min}`).join(' && ')}; to keep it after a reboot add ${low.map((f) => `\`${f.key} = ${f.min}\``).join(' and ')} to /etc/sysctl.d/99-kind.conf (kind's known issues: too many open files)`,
  };
}

async function dockerChecks(ctx: Deps): Promise<Check[]> {
  const version = await ctx.runner.run('docker', ['version', '--format', '{{.Server.Version}}']);
  if (version.code === 127) return [{ name: 'docker', verdict: 'fail', found: 'not found on PATH', fix: install.docker }];
  if (version.code !== 0) {
    return [
      {
        name: 'docker',
        verdict: 'fail',
        found: `the daemon does not answer (${version.stderr.trim().split('\n')[0]})`,
        fix: 'start Docker (Docker Desktop, or `sudo systemctl start docker`) and check `docker info` works without sudo',
      },
    ];
  }
  const checks: Check[] = [{ name: 'docker', verdict: 'ok', found: `server ${version.stdout.trim()}` }];
  const info = await ctx.runner.run('docker', ['info', '--format', '{{.MemTotal}} {{.NCPU}}']);
  const [memText, cpuText] = info.stdout.trim().split(/\s+/);
  const memory = Number(memText);
  const cpus = Number(cpuText);
  if (info.code !== 0 || !Number.isFinite(memory) || memory <= 0) {
    checks.push({
      name: 'docker memory',
      verdict: 'warn',
      found: 'unknown (`docker info` gave no MemTotal)',
      fix: 'make sure Docker may use at least 8 GiB of memory',
    });
  } else {
    const verdict: Verdict = memory < minimums.dockerMemoryFailBytes ? 'fail' : memory < minimums.dockerMemoryWarnBytes ? 'warn' : 'ok';
    checks.push({
      name: 'docker memory',
      verdict,
      found: `${gib(memory)}, ${Number.isFinite(cpus) ? cpus : '?'} CPUs`,
      ...(verdict !== 'ok' && {
        fix: 'give Docker at least 8 GiB of memory (Docker Desktop: Settings > Resources > Memory; on Linux Docker uses the host memory)',
      }),
    });
  }
  return checks;
}

async function versionCheck(ctx: Deps, name: string, command: string, args: string[], judge: (v: Semver) => Check): Promise<Check> {
  const result = await ctx.runner.run(command, args);
  if (result.code === 127) return { name, verdict: 'fail', found: 'not found on PATH', fix: install[name as keyof typeof install] ?? `install ${name}` };
  const v = parseVersion(result.stdout) ?? parseVersion(result.stderr);
  if (result.code !== 0 || !v)
    return {
      name,
      verdict: 'fail',
      found: `\`${command} ${args.join(' ')}\` failed: ${`${result.stderr}${result.stdout}`.trim().split('\n')[0]}`,
      fix: install[name as keyof typeof install],
    };
  return judge(v);
}

/** Everything `make up` needs on this machine, each with a verdict and the exact fix. */
export async function runDoctor(ctx: Deps): Promise<Check[]> {
  const checks: Check[] = [...(await dockerChecks(ctx))];

  checks.push(
    await versionCheck(ctx, 'kind', 'kind', ['version'], (v) =>
      atLeast(v, minimums.kind) >= 0
        ? { name: 'kind', verdict: 'ok', found: `v${show(v)}` }
        : { name: 'kind', verdict: 'fail', found: `v${show(v)}`, fix: install.kind },
    ),
  );

  const [major, minor] = versions.kubernetes.split('.').map(Number) as [number, number];
  const kubectlJson = await ctx.runner.run('kubectl', ['version', '--client', '--output=json']);
  if (kubectlJson.code === 127) checks.push({ name: 'kubectl', verdict: 'fail', found: 'not found on PATH', fix: install.kubectl });
  else {
    let git = '';
    try {
      git = (JSON.parse(kubectlJson.stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? '';
    } catch {
      // old kubectl without --output=json support: judged below as unknown
    }
    const v = parseVersion(git);
    if (!v)
      checks.push({ name: 'kubectl', verdict: 'fail', found: `cannot read its version: ${kubectlJson.stderr.trim().split('\n')[0]}`, fix: install.kubectl });
    else {
      const skewOk = v[0] === major && Math.abs(v[1] - minor) <= 1;
      checks.push({
        name: 'kubectl',
        verdict: skewOk ? 'ok' : 'warn',
        found: `v${show(v)}`,
        ...(!skewOk && { fix: `${install.kubectl} (within one minor of the cluster's ${major}.${minor})` }),
      });
    }
  }

  const istio = findIstio(ctx);
  checks.push(
    await versionCheck(ctx, 'istioctl', istio.istioctl, ['version', '--remote=false'], (v) =>
      show(v) === versions.istio
        ? { name: 'istioctl', verdict: 'ok', found: `${show(v)} (${istio.source})` }
        : { name: 'istioctl', verdict: 'fail', found: `${show(v)} (${istio.source}); pinned is ${versions.istio}`, fix: istioDownloadHint },
    ),
  );
  const missingAddons = istio.addonsDir ? addons.filter((a) => !existsSync(join(istio.addonsDir!, a.file))).map((a) => a.file) : addons.map((a) => a.file);
  checks.push(
    missingAddons.length === 0
      ? { name: 'istio add-ons', verdict: 'ok', found: istio.addonsDir! }
      : {
          name: 'istio add-ons',
          verdict: 'fail',
          found: istio.addonsDir ? `${istio.addonsDir} lacks ${missingAddons.join(', ')}` : `no samples/addons next to istioctl (${istio.source})`,
          fix: `${istioDownloadHint}; the release directory holds samples/addons (Prometheus, Grafana, Kiali)`,
        },
  );

  checks.push(
    await versionCheck(ctx, 'helm', 'helm', ['version', '--short'], (v) =>
      atLeast(v, minimums.helm) >= 0
        ? { name: 'helm', verdict: 'ok', found: `v${show(v)}` }
        : { name: 'helm', verdict: 'fail', found: `v${show(v)}`, fix: install.helm },
    ),
  );

  const inotify = inotifyCheck(ctx);
  if (inotify) checks.push(inotify);

  checks.push(
    existsSync(join(ctx.repoRoot, 'Dockerfile'))
      ? { name: 'Dockerfile', verdict: 'ok', found: 'present' }
      : {
          name: 'Dockerfile',
          verdict: 'fail',
          found: `missing at ${join(ctx.repoRoot, 'Dockerfile')}`,
          fix: '`make images` builds every service with the repository Dockerfile (--build-arg SERVICE=<name>): restore it from git',
        },
  );

  // With the cluster up, 8080/8443 are ours and memory is already spent; only a fresh start needs them.
  // Without a Docker daemon `kind get clusters` fails too; the docker check already says so.
  const running = checks.find((c) => c.name === 'kind')?.verdict === 'ok' && (await clusterExists(ctx.runner).catch(() => false));
  if (running) {
    checks.push({ name: 'ports', verdict: 'ok', found: `cluster ${settings.clusterName} is running and holds 127.0.0.1:8080 and :8443` });
  } else {
    const busy: number[] = [];
    for (const port of [8080, 8443]) if (!(await ctx.portFree(port))) busy.push(port);
    checks.push(
      busy.length === 0
        ? { name: 'ports', verdict: 'ok', found: '127.0.0.1:8080 and :8443 free' }
        : {
            name: 'ports',
            verdict: 'fail',
            found: `something listens on ${busy.map((p) => `127.0.0.1:${p}`).join(' and ')}`,
            fix: `stop it (\`lsof -i :${busy[0]}\` shows what), or change hostPort in kind-config.yaml and use that port in the URLs`,
          },
    );
    const free = ctx.hostFreeMemory();
    checks.push(
      free >= minimums.hostFreeWarnBytes
        ? { name: 'free memory', verdict: 'ok', found: `${gib(free)} available on the host` }
        : {
            name: 'free memory',
            verdict: 'warn',
            found: `${gib(free)} available on the host`,
            fix: 'close memory-hungry programs (other kind clusters: `kind get clusters`) before `make up`',
          },
    );
  }
  return checks;
}

export function printChecks(print: (line: string) => void, checks: readonly Check[]): void {
  const mark: Record<Verdict, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' };
  for (const c of checks) {
    print(`  ${mark[c.verdict]}  ${c.name.padEnd(14)} ${c.found}`);
    if (c.fix) print(`        ${''.padEnd(14)} fix: ${c.fix}`);
  }
}
