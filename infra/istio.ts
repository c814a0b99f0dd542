import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versions } from '../constructs/versions.js';
import { cachePath, repoRoot } from './cache.js';
import { ComponentError } from './component-error.js';
import { createRunDir, removeRunDir } from './processes.js';
import { readStamp, requireTool, runAsync } from './tools.js';

const component = 'istio';
/** The Go module that pins istio.io/istio and the replaces the module proxy serves. */
const moduleDir = join(repoRoot, 'infra', 'istio');
const goFix = 'install Go 1.25.9 or newer (or let GOTOOLCHAIN=auto fetch it from the module proxy) and re-run';

/** Istio's binaries built from the Go module proxy, and the Envoy bootstrap template of the same module. */
export interface IstioBinaries {
  /** istiod. */
  readonly pilotDiscovery: string;
  /** The sidecar agent: bootstrap, SDS, xDS proxy and Envoy's supervisor. */
  readonly pilotAgent: string;
  readonly istioctl: string;
  /**
   * `tools/packaging/common/envoy_bootstrap.json` of the same istio.io/istio module, copied
   * into the cache at build time (what Istio's proxy image ships as
   * /var/lib/istio/envoy/envoy_bootstrap_tmpl.json).
   */
  readonly bootstrapTemplate: string;
}

const packages = {
  pilotDiscovery: 'istio.io/istio/pilot/cmd/pilot-discovery',
  pilotAgent: 'istio.io/istio/pilot/cmd/pilot-agent',
  istioctl: 'istio.io/istio/istioctl/cmd/istioctl',
} as const;

function requiredVersion(goMod: string, module: string): string {
  const match = new RegExp(`^\\s*(?:require\\s+)?${module.replace(/[.]/g, '\\.')} (v\\S+)`, 'm').exec(goMod);
  if (!match?.[1]) throw new ComponentError(component, `${moduleDir}/go.mod does not require ${module}`, 'restore go.mod from git');
  return match[1];
}

/** The commit a pseudo-version names: `v0.0.0-20260826214018-9739e10eb9d7` → `9739e10eb9d7`. */
function pseudoVersionCommit(version: string): string {
  return /-([0-9a-f]{12})$/.exec(version)?.[1] ?? 'unknown';
}

let building: Promise<IstioBinaries> | undefined;

/**
 * Builds pilot-discovery, pilot-agent and istioctl from the Go module in infra/istio into
 * `.cache/istio/bin` with one `go build` (they share most packages), CGO disabled, unless
 * the stamp says the same module versions are already there. The first build on 2 cores
 * takes about a quarter of an hour and ~1 GB of module cache; later ones reuse GOCACHE.
 * Concurrent calls in one process share one build.
 */
export function ensureIstio(): Promise<IstioBinaries> {
  building ??= buildIstio().catch((error: unknown) => {
    building = undefined;
    throw error;
  });
  return building;
}

async function buildIstio(): Promise<IstioBinaries> {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const istio = requiredVersion(goMod, 'istio.io/istio');
  if (istio !== versions.istioModule) {
    throw new ComponentError(
      component,
      `infra/istio/go.mod builds istio.io/istio ${istio} but constructs/versions.ts pins istioModule ${versions.istioModule}`,
      'make them agree (and the replaces in that go.mod), then run `go mod tidy` in infra/istio',
    );
  }
  const api = /^\s*istio\.io\/api => istio\.io\/api (v\S+)/m.exec(goMod)?.[1];
  if (api !== `v${versions.istio}`) {
    throw new ComponentError(
      component,
      `infra/istio/go.mod replaces istio.io/api with ${api ?? 'nothing'} but constructs/versions.ts pins Istio ${versions.istio}`,
      `replace istio.io/api and istio.io/client-go with v${versions.istio} there, then run \`go mod tidy\``,
    );
  }
  const bin = cachePath('istio', 'bin');
  const binaries: IstioBinaries = {
    pilotDiscovery: join(bin, 'pilot-discovery'),
    pilotAgent: join(bin, 'pilot-agent'),
    istioctl: join(bin, 'istioctl'),
    bootstrapTemplate: join(bin, 'envoy_bootstrap.json'),
  };
  // go.sum in the stamp: a changed replace or dependency rebuilds even at the same versions.
  const modules = createHash('sha256')
    .update(goMod)
    .update(readFileSync(join(moduleDir, 'go.sum')))
    .digest('hex')
    .slice(0, 16);
  const stamp = `istio=${istio} api=${api} modules=${modules}`;
  const stampFile = join(bin, 'stamp');
  if (readStamp(stampFile) === stamp && Object.values(binaries).every((file) => existsSync(file))) return binaries;

  const go = requireTool({ component, command: 'go', fix: goFix });
  const env = { ...process.env, CGO_ENABLED: '0' };
  const fix = `${goFix}; if the module proxy is unreachable set GOPROXY, then re-run`;
  const staging = createRunDir(bin, '.build-');
  // What Istio's release build stamps, so `istioctl version` and istiod's proxy-version
  // checks see a 1.30 build (a dev build of the release branch, as the pseudo-version is).
  const [major, minor] = versions.istio.split('.');
  const ldflags = ['-s', '-w'];
  for (const [name, value] of Object.entries({
    buildVersion: `${major}.${minor}-dev`,
    buildGitRevision: pseudoVersionCommit(istio),
    buildTag: istio,
    buildStatus: 'Clean',
    buildHub: 'meshkit-local',
  })) {
    ldflags.push(`-X istio.io/istio/pkg/version.${name}=${value}`);
  }
  console.error(
    `[${component}] building pilot-discovery, pilot-agent and istioctl from istio.io/istio ${istio} with ${go} ` +
      '(first build: ~15 minutes on 2 cores; seconds once GOCACHE is warm)',
  );
  const started = Date.now();
  try {
    const targets = Object.values(packages);
    await runAsync(go, ['build', '-mod=readonly', '-trimpath', `-ldflags=${ldflags.join(' ')}`, '-o', `${staging}/`, ...targets], {
      component,
      label: `go build ${targets.join(' ')}`,
      fix,
      cwd: moduleDir,
      // Static binaries like upstream's; also spares a C toolchain.
      env,
    });
    const istioDir = (await runAsync(go, ['list', '-mod=readonly', '-m', '-f', '{{.Dir}}', 'istio.io/istio'], { component, fix, cwd: moduleDir, env })).trim();
    const template = join(istioDir, 'tools', 'packaging', 'common', 'envoy_bootstrap.json');
    if (!existsSync(template)) {
      throw new ComponentError(component, `istio.io/istio ${istio} has no ${template}`, 'pin an istio.io/istio that ships the sidecar bootstrap template');
    }
    copyFileSync(template, join(staging, 'envoy_bootstrap.json'));
    renameSync(join(staging, 'pilot-discovery'), binaries.pilotDiscovery);
    renameSync(join(staging, 'pilot-agent'), binaries.pilotAgent);
    renameSync(join(staging, 'istioctl'), binaries.istioctl);
    renameSync(join(staging, 'envoy_bootstrap.json'), binaries.bootstrapTemplate);
  } finally {
    removeRunDir(staging);
  }
  writeFileSync(stampFile, `${stamp}\n`);
  console.error(`[${component}] built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binaries;
}
