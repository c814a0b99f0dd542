import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { versions } from '../../constructs/versions.js';
import { ensureIstioCrds } from '../../scripts/upstream/istio-crds.js';
import { cachePath, repoRoot } from './cache.js';
import { ComponentError } from './component-error.js';
import { KubeClient, type KubeConnection, type KubeObject } from './kube-client.js';
import { readStamp, requireTool } from './tools.js';

const component = 'kube-apiserver';
/** The Go module that pins kube-apiserver, etcd and every k8s.io staging module. */
const moduleDir = join(repoRoot, 'test', 'harness', 'kube-apiserver');
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
 * Builds kube-apiserver and etcd from the Go module in test/harness/kube-apiserver
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
      `test/harness/kube-apiserver/go.mod builds k8s.io/kubernetes ${kubernetes} but constructs/versions.ts pins ${versions.kubernetes}`,
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
  removeDirsOfDeadProcesses(bin, '.build-');
  const staging = mkdtempSync(join(bin, `.build-${process.pid}-`));
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
  const output = new LogTail();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      go,
      [
        'build',
        '-mod=readonly',
        '-trimpath',
        `-ldflags=${ldflags.join(' ')}`,
        '-o',
        `${staging}/`,
        'k8s.io/kubernetes/cmd/kube-apiserver',
        'go.etcd.io/etcd/server/v3',
      ],
      // Static binaries like upstream's; also spares a C toolchain.
      {
        cwd: moduleDir,
        env: { ...process.env, CGO_ENABLED: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new ComponentError(
      component,
      `\`go build\` in ${moduleDir} failed (exit ${code}):\n${output.tail(30)}`,
      `${goFix}; if the module proxy is unreachable set GOPROXY, then re-run`,
    );
  }
  // `go build -o dir/` names a main package after its path minus the /vN suffix.
  renameSync(join(staging, 'kube-apiserver'), binaries.kubeApiserver);
  renameSync(join(staging, 'server'), binaries.etcd);
  rmSync(staging, { recursive: true, force: true });
  writeFileSync(stampFile, `${stamp}\n`);
  console.error(`[${component}] built in ${Math.round((Date.now() - started) / 1000)} s`);
  return binaries;
}

/** Last lines of a process's output, for error messages. */
class LogTail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly keep = 200) {}
  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
  }
  tail(count: number): string {
    return [...this.lines, this.partial]
      .filter((l) => l.length > 0)
      .slice(-count)
      .join('\n');
  }
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Processes die with the test run even when nobody calls stop(). */
function track(child: ChildProcess): void {
  running.add(child);
  child.on('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

/**
 * A detached shell that SIGKILLs `pid` once this Node process is gone, covering the
 * case where Node itself is SIGKILLed and no exit hook runs. It ends with its process.
 */
function startReaper(pid: number): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null`;
  const reaper = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  reaper.unref();
  track(reaper);
  return reaper;
}

interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logs: LogTail;
  readonly logFile: string;
  readonly reaper?: ChildProcess;
  /** Set once the process has exited. */
  exit?: string;
}

function launch(name: string, command: string, args: readonly string[], logDir: string): Managed {
  const logFile = join(logDir, `${name}.log`);
  const file = createWriteStream(logFile);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const reaper = child.pid === undefined ? undefined : startReaper(child.pid);
  const managed: Managed = { name, child, logs: new LogTail(), logFile, ...(reaper && { reaper }) };
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      managed.logs.push(chunk);
      file.write(chunk);
    });
  }
  child.on('error', (error) => (managed.exit = error.message));
  child.on('exit', (code, signal) => {
    managed.exit ??= signal ? `killed by ${signal}` : `exit code ${code}`;
    file.end();
  });
  track(child);
  return managed;
}

function failure(managed: Managed, problem: string, fix: string): ComponentError {
  return new ComponentError(managed.name, `${problem}\n--- last lines of ${managed.logFile} ---\n${managed.logs.tail(40)}`, fix);
}

async function terminate(managed: Managed, graceMs: number): Promise<void> {
  const { child, reaper } = managed;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  if (reaper && reaper.exitCode === null && reaper.signalCode === null) reaper.kill('SIGKILL');
}

/** Distinct free loopback ports (held together while choosing so they differ). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Polls until `probe` is true; fails early if the process died. */
async function waitUntil(managed: Managed, what: string, timeoutMs: number, probe: () => Promise<boolean>, fix: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (managed.exit) throw failure(managed, `exited (${managed.exit}) before ${what}`, fix);
    try {
      if (await probe()) return;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw failure(managed, `not ${what} after ${timeoutMs / 1000} s${last ? ` (last probe: ${last})` : ''}`, fix);
}

/** Removes `<prefix><pid>-*` folders left behind by processes that were killed. */
function removeDirsOfDeadProcesses(root: string, prefix: string): void {
  for (const entry of readdirSync(root)) {
    if (!entry.startsWith(prefix)) continue;
    const pid = Number(entry.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(join(root, entry), { recursive: true, force: true });
    }
  }
}

function readCrds(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o?.kind === 'CustomResourceDefinition');
}

/**
 * Starts etcd and a real kube-apiserver on free loopback ports, with the Istio CRDs
 * installed and Established. Authentication is a static bearer token, authorization
 * AlwaysAllow: this server exists to validate and admit manifests, not to test RBAC.
 */
export async function startKubeApiserver(): Promise<RunningKubeApiserver> {
  const binaries = await provisionKubeApiserver();
  const crds = readCrds(ensureIstioCrds());
  const runRoot = cachePath('kube', 'run');
  removeDirsOfDeadProcesses(runRoot, 'run-');
  const runDir = mkdtempSync(join(runRoot, `run-${process.pid}-`));
  const logDir = cachePath('kube', 'logs');
  const started = Date.now();
  let etcd: Managed | undefined;
  let apiserver: Managed | undefined;

  const stop = async () => {
    if (apiserver) await terminate(apiserver, 5_000);
    if (etcd) await terminate(etcd, 5_000);
    rmSync(runDir, { recursive: true, force: true });
  };

  try {
    const [etcdClientPort, etcdPeerPort, securePort] = (await freePorts(3)) as [number, number, number];
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    etcd = launch(
      'etcd',
      binaries.etcd,
      [
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
      ],
      logDir,
    );
    const etcdFix = `see ${etcd.logFile}; delete .cache/kube/bin to force a rebuild if the binary is broken`;
    await waitUntil(
      etcd,
      'healthy',
      30_000,
      async () => {
        const res = await fetch(`${etcdUrl}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
      etcdFix,
    );

    const token = randomBytes(24).toString('hex');
    const certDir = join(runDir, 'certs');
    mkdirSync(certDir);
    writeFileSync(join(runDir, 'tokens.csv'), `${token},meshkit-test,meshkit-test,"system:masters"\n`, { mode: 0o600 });
    // Service-account tokens need a signing key pair; EC P-256 is generated in milliseconds.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    writeFileSync(join(runDir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(runDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

    apiserver = launch(
      'kube-apiserver',
      binaries.kubeApiserver,
      [
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
      ],
      logDir,
    );
    const apiFix = `see ${apiserver.logFile}; delete .cache/kube/bin to force a rebuild if the binary is broken`;
    const caFile = join(certDir, 'apiserver.crt');
    let client: KubeClient | undefined;
    const url = `https://127.0.0.1:${securePort}`;
    await waitUntil(
      apiserver,
      'ready (/readyz)',
      120_000,
      async () => {
        if (!client) {
          // The .crt holds the serving cert followed by the CA that signed it; wait for both.
          const pem = existsSync(caFile) ? readFileSync(caFile, 'utf8') : '';
          if (pem.split('-----END CERTIFICATE-----').length < 3) return false;
          client = new KubeClient({ url, token, caCert: pem });
        }
        return (await client.request<string>('GET', '/readyz', { timeoutMs: 5_000 })) === 'ok';
      },
      apiFix,
    );
    const connection = client!.connection;
    try {
      await client!.installCrds(crds, { timeoutMs: 60_000 });
    } catch (error) {
      throw failure(apiserver, `the Istio CRDs could not be installed: ${error instanceof Error ? error.message : String(error)}`, apiFix);
    } finally {
      client!.close();
    }
    console.error(`[${component}] ${url} ready with ${crds.length} Istio CRDs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { connection, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
