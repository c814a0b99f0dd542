import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { versions } from '../constructs/versions.js';
import { ensureIstioCrds } from './upstream/istio-crds.js';
import { ensureStrimziCrds } from './upstream/strimzi-crds.js';
import { cachePath, repoRoot } from './cache.js';
import { ComponentError } from './component-error.js';
import { KubeClient, type KubeConnection, type KubeObject } from './kube-client.js';
import { createRunDir, freePorts, removeRunDir, spawnManaged, type ManagedProcess } from './processes.js';
import { readStamp, requireTool, runAsync } from './tools.js';

const component = 'kube-apiserver';
/** The Go module that pins kube-apiserver, etcd and every k8s.io staging module. */
const moduleDir = join(repoRoot, 'infra', 'kube-apiserver');
const goFix = 'install Go 1.24 or newer (only the Go module proxy is needed) and re-run';

export interface KubeBinaries {
  readonly kubeApiserver: string;
  readonly etcd: string;
}

export interface RunningKubeApiserver {
  readonly connection: KubeConnection;
  /** Kills kube-apiserver and etcd and removes their data and certificates. */
  stop(): Promise<void>;
}

function requiredVersion(goMod: string, module: string): string {
  const match = new RegExp(`^\\s*${module.replace(/[.]/g, '\\.')} (v\\S+)`, 'm').exec(goMod);
  if (!match?.[1]) throw new ComponentError(component, `${moduleDir}/go.mod does not require ${module}`, 'restore go.mod from git');
  return match[1];
}

/**
 * Builds kube-apiserver and etcd from the Go module in infra/kube-apiserver
 * into `.cache/kube/bin`, unless the stamp says the same versions are already there.
 * The first build compiles all of Kubernetes (minutes); later ones reuse GOCACHE.
 */
export async function provisionKubeApiserver(): Promise<KubeBinaries> {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const kubernetes = requiredVersion(goMod, 'k8s.io/kubernetes');
  const etcd = requiredVersion(goMod, 'go.etcd.io/etcd/server/v3');
  if (kubernetes !== `v${versions.kubernetes}`) {
    throw new ComponentError(
      component,
      `infra/kube-apiserver/go.mod builds k8s.io/kubernetes ${kubernetes} but constructs/versions.ts pins ${versions.kubernetes}`,
      `set k8s.io/kubernetes and every k8s.io staging replace in that go.mod to ${versions.kubernetes} (staging: v0.${versions.kubernetes.split('.').slice(1).join('.')}), then run \`go mod tidy\` there`,
    );
  }
  const bin = cachePath('kube', 'bin');
  const binaries = { kubeApiserver: join(bin, 'kube-apiserver'), etcd: join(bin, 'etcd') };
  // go.sum in the stamp: a changed replace or dependency rebuilds even at the same versions.
  const modules = createHash('sha256')
    .update(goMod)
    .update(readFileSync(join(moduleDir, 'go.sum')))
    .digest('hex')
    .slice(0, 16);
  const stamp = `kubernetes=${kubernetes} etcd=${etcd} modules=${modules}`;
  const stampFile = join(bin, 'stamp');
  if (readStamp(stampFile) === stamp && existsSync(binaries.kubeApiserver) && existsSync(binaries.etcd)) return binaries;

  const go = requireTool({ component, command: 'go', fix: goFix });
  const staging = createRunDir(bin, '.build-');
  const [major, minor] = kubernetes.replace(/^v/, '').split('.');
  // What the upstream release scripts stamp, so /version and compatibility checks see 1.34.x.
  const ldflags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    ldflags.push(`-X ${pkg}.gitVersion=${kubernetes}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`);
  }
  console.error(
    `[${component}] building kube-apiserver ${kubernetes} and etcd ${etcd} with ${go} (first build: 5-7 minutes on 2 cores; seconds once GOCACHE is warm)`,
  );
  const started = Date.now();
  try {
    const targets = ['k8s.io/kubernetes/cmd/kube-apiserver', 'go.etcd.io/etcd/server/v3'];
    await runAsync(go, ['build', '-mod=readonly', '-trimpath', `-ldflags=${ldflags.join(' ')}`, '-o', `${staging}/`, ...targets], {
      component,
      label: `go build ${targets.join(' ')}`,
      fix: `${goFix}; if the module proxy is unreachable set GOPROXY, then re-run`,
      cwd: moduleDir,
      // Static binaries like upstream's; also spares a C toolchain.
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    // `go build -o dir/` names a main package after its path minus the /vN suffix.
    renameSync(join(staging, 'kube-apiserver'), binaries.kubeApiserver);
    renameSync(join(staging, 'server'), binaries.etcd);
  } finally {
    removeRunDir(staging);
  }
  writeFileSync(stampFile, `${stamp}\n`);
  console.error(`[${component}] built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binaries;
}

function readCrds(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o?.kind === 'CustomResourceDefinition');
}

/**
 * Starts one of the two servers with its log in .cache/kube/logs/<name>.log (replaced on
 * every start, kept after stop for a post-mortem). Asked to stop with SIGTERM, killed 5 s later.
 */
async function launch(name: string, command: string, args: readonly string[]): Promise<ManagedProcess> {
  const logFile = join(cachePath('kube', 'logs'), `${name}.log`);
  writeFileSync(logFile, '');
  return spawnManaged(command, args, {
    name,
    logFile,
    fix: `see ${logFile}; delete .cache/kube/bin to force a rebuild if the binary is broken`,
    graceMs: 5_000,
  });
}

/**
 * Starts etcd and a real kube-apiserver on free loopback ports, with the Istio and
 * Strimzi CRDs installed, Established and in discovery, so every integration test can
 * apply Istio and Strimzi kinds. Authentication is a static bearer token, authorization
 * AlwaysAllow: this server exists to validate and admit manifests, not to test RBAC.
 */
export async function startKubeApiserver(): Promise<RunningKubeApiserver> {
  const binaries = await provisionKubeApiserver();
  const istioCrds = readCrds(ensureIstioCrds());
  // Strimzi's own CRD generator needs Java 21+ and Maven: a ComponentError names both and the fix.
  const strimziCrds = ensureStrimziCrds().flatMap(readCrds);
  const runDir = createRunDir(cachePath('kube', 'run'), 'run-');
  const started = Date.now();
  let etcd: ManagedProcess | undefined;
  let apiserver: ManagedProcess | undefined;

  const stop = async () => {
    await apiserver?.stop();
    await etcd?.stop();
    removeRunDir(runDir);
  };

  try {
    const [etcdClientPort, etcdPeerPort, securePort] = (await freePorts(3)) as [number, number, number];
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    etcd = await launch('etcd', binaries.etcd, [
      '--name=meshkit-test',
      `--data-dir=${join(runDir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=meshkit-test=${peerUrl}`,
      // Throwaway data: durability costs seconds of fsync on a busy disk and buys nothing.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await etcd.waitUntil(
      'healthy',
      async () => {
        const res = await fetch(`${etcdUrl}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    const token = randomBytes(24).toString('hex');
    const certDir = join(runDir, 'certs');
    mkdirSync(certDir);
    writeFileSync(join(runDir, 'tokens.csv'), `${token},meshkit-test,meshkit-test,"system:masters"\n`, { mode: 0o600 });
    // Service-account tokens need a signing key pair; EC P-256 is generated in milliseconds.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(runDir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(runDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

    apiserver = await launch('kube-apiserver', binaries.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      // Without it the server looks for a default route to pick an address, which offline machines lack.
      '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      // No --tls-cert-file: the server writes a self-signed CA and serving cert for 127.0.0.1 here.
      `--cert-dir=${certDir}`,
      `--token-auth-file=${join(runDir, 'tokens.csv')}`,
      '--authorization-mode=AlwaysAllow',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(runDir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(runDir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // ServiceAccount admission rejects pods until a controller creates each namespace's
      // `default` ServiceAccount, and no controller runs here. The rest are kind's defaults.
      '--disable-admission-plugins=ServiceAccount',
      // kind (kubeadm) allows privileged containers; admission should answer as kind would.
      '--allow-privileged=true',
      // The `kubernetes` Service endpoints would point at 127.0.0.1, which validation refuses.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ]);
    const caFile = join(certDir, 'apiserver.crt');
    let client: KubeClient | undefined;
    const url = `https://127.0.0.1:${securePort}`;
    await apiserver.waitUntil(
      'ready (/readyz)',
      async () => {
        if (!client) {
          // The .crt holds the serving cert followed by the CA that signed it; wait for both.
          const pem = existsSync(caFile) ? readFileSync(caFile, 'utf8') : '';
          if (pem.split('-----END CERTIFICATE-----').length < 3) return false;
          client = new KubeClient({ url, token, caCert: pem });
        }
        return (await client.request<string>('GET', '/readyz', { timeoutMs: 5_000 })) === 'ok';
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    const connection = client!.connection;
    try {
      await client!.installCrds([...istioCrds, ...strimziCrds], { timeoutMs: 60_000 });
    } catch (error) {
      throw apiserver.failure(`the Istio and Strimzi CRDs could not be installed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      client!.close();
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.error(`[${component}] ${url} ready with ${istioCrds.length} Istio and ${strimziCrds.length} Strimzi CRDs in ${seconds} s`);
    return { connection, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
