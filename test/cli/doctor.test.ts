import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { versions } from '../../constructs/versions.js';
import { parseVersion, printChecks, runDoctor, type Check } from '../../cli/doctor.js';
import { makeWorld, scriptHealthyTools, type World } from './support/world.js';

const verdicts = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c.verdict]));
const check = (checks: Check[], name: string) => checks.find((c) => c.name === name)!;

function healthy(options: Parameters<typeof makeWorld>[0] = {}): World {
  const w = makeWorld(options);
  scriptHealthyTools(w);
  w.recorder.on('kind get clusters', { stdout: '' });
  return w;
}

describe('make doctor', () => {
  it('passes a machine with every tool at a fitting version, 16 GiB for Docker and free ports', async () => {
    const w = healthy();
    const checks = await runDoctor(w.ctx);
    expect(verdicts(checks)).toEqual({
      docker: 'ok',
      'docker memory': 'ok',
      kind: 'ok',
      kubectl: 'ok',
      istioctl: 'ok',
      'istio add-ons': 'ok',
      helm: 'ok',
      inotify: 'ok',
      Dockerfile: 'ok',
      ports: 'ok',
      'free memory': 'ok',
    });
    expect(check(checks, 'istioctl').found).toBe(`${versions.istio} (ISTIO_HOME)`);
    expect(check(checks, 'docker memory').found).toBe('16.0 GiB, 8 CPUs');
  });

  it('says exactly what to install when tools are missing', async () => {
    const w = makeWorld();
    w.recorder
      .on(`docker version --format '{{.Server.Version}}'`, { code: 127 })
      .on('kind version', { code: 127 })
      .on('kubectl version --client --output=json', { code: 127 })
      .on(`${w.dirs.istioHome}/bin/istioctl version --remote=false`, { code: 127 })
      .on('helm version --short', { code: 127 });
    const checks = await runDoctor(w.ctx);
    for (const name of ['docker', 'kind', 'kubectl', 'istioctl', 'helm'])
      expect(check(checks, name)).toMatchObject({ verdict: 'fail', found: 'not found on PATH' });
    expect(check(checks, 'docker').fix).toBe('install Docker Desktop or Docker Engine: https://docs.docker.com/get-docker/');
    expect(check(checks, 'kind').fix).toContain(`install kind v${versions.kind} or newer`);
    expect(check(checks, 'helm').fix).toBe('install Helm 3.8 or newer: https://helm.sh/docs/intro/install/');
    expect(check(checks, 'istioctl').fix).toBe(
      `unpack Istio's ${versions.istio} release archive (istioctl and samples/, from Istio's release page) and export ISTIO_HOME=$PWD/istio-${versions.istio}`,
    );
    expect(check(checks, 'kubectl').fix).toBe('install kubectl 1.34: https://kubernetes.io/docs/tasks/tools/');
  });

  it('fails an istioctl of another release, an old kind and an old Helm; warns about a kubectl two minors away', async () => {
    const w = makeWorld();
    w.recorder
      .on(`docker version --format '{{.Server.Version}}'`, { stdout: '28.2.2' })
      .on(`docker info --format '{{.MemTotal}} {{.NCPU}}'`, { stdout: `${16 * 1024 ** 3} 8` })
      .on('kind version', { stdout: 'kind v0.23.0 go1.22.2 linux/amd64' })
      .on('kubectl version --client --output=json', { stdout: JSON.stringify({ clientVersion: { gitVersion: 'v1.32.4' } }) })
      .on(`${w.dirs.istioHome}/bin/istioctl version --remote=false`, { stdout: 'client version: 1.29.1' })
      .on('helm version --short', { stdout: 'v3.7.2+g663a896' });
    const checks = await runDoctor(w.ctx);
    expect(check(checks, 'istioctl')).toMatchObject({ verdict: 'fail', found: `1.29.1 (ISTIO_HOME); pinned is ${versions.istio}` });
    expect(check(checks, 'kind')).toMatchObject({ verdict: 'fail', found: 'v0.23.0' });
    expect(check(checks, 'helm')).toMatchObject({ verdict: 'fail', found: 'v3.7.2' });
    expect(check(checks, 'kubectl')).toMatchObject({ verdict: 'warn', found: 'v1.32.4' });
    expect(check(checks, 'kubectl').fix).toContain("within one minor of the cluster's 1.34");
  });

  it("tells a stopped Docker daemon from a missing Docker, and judges Docker's memory", async () => {
    const down = makeWorld();
    down.recorder.on(`docker version --format '{{.Server.Version}}'`, {
      code: 1,
      stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
    });
    down.recorder
      .on('kind version', { stdout: 'kind v0.30.0 go1.24.6 linux/amd64' })
      .on('kind get clusters', { code: 1, stderr: 'ERROR: failed to list clusters: command "docker ps -a" failed with error: exit status 1' });
    const downChecks = await runDoctor(down.ctx);
    // kind cannot list clusters without Docker: the report still comes, ports judged as for a first start.
    expect(check(downChecks, 'ports').found).toBe('127.0.0.1:8080 and :8443 free');
    const stopped = check(downChecks, 'docker');
    expect(stopped.verdict).toBe('fail');
    expect(stopped.found).toBe(
      'the daemon does not answer (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?)',
    );
    expect(stopped.fix).toContain('start Docker');

    for (const [gib, verdict] of [
      [4, 'fail'],
      [7, 'warn'],
      [8, 'ok'],
    ] as const) {
      const w = makeWorld();
      // Scripts answer in the order added: these memory figures win over the healthy ones.
      w.recorder.on(`docker info --format '{{.MemTotal}} {{.NCPU}}'`, { stdout: `${gib * 1024 ** 3} 4` });
      scriptHealthyTools(w);
      w.recorder.on('kind get clusters', { stdout: '' });
      const memory = check(await runDoctor(w.ctx), 'docker memory');
      expect([gib, memory.verdict]).toEqual([gib, verdict]);
    }
  });

  it('flags busy ports and low free memory before a first `make up`, but not when the cluster already runs', async () => {
    const fresh = healthy({ busyPorts: [8443], freeMemory: 2 * 1024 ** 3 });
    const checks = await runDoctor(fresh.ctx);
    expect(check(checks, 'ports')).toMatchObject({ verdict: 'fail', found: 'something listens on 127.0.0.1:8443' });
    expect(check(checks, 'free memory')).toMatchObject({ verdict: 'warn', found: '2.0 GiB available on the host' });

    const running = makeWorld({ busyPorts: [8080, 8443], freeMemory: 1024 ** 3 });
    scriptHealthyTools(running);
    running.recorder.on('kind get clusters', { stdout: 'other\nmeshkit\n' });
    const again = await runDoctor(running.ctx);
    expect(check(again, 'ports')).toMatchObject({ verdict: 'ok', found: 'cluster meshkit is running and holds 127.0.0.1:8080 and :8443' });
    expect(again.some((c) => c.name === 'free memory')).toBe(false);
  });

  it('finds the Istio release around the istioctl on PATH when ISTIO_HOME is unset, and requires its samples/addons', async () => {
    const w = healthy();
    const onPath = { ...w.ctx, env: { PATH: join(w.dirs.istioHome, 'bin') } };
    w.recorder.on(`${w.dirs.istioHome}/bin/istioctl version --remote=false`, { stdout: `client version: ${versions.istio}` });
    expect(check(await runDoctor(onPath), 'istio add-ons')).toMatchObject({ verdict: 'ok', found: join(w.dirs.istioHome, 'samples', 'addons') });

    rmSync(join(w.dirs.istioHome, 'samples', 'addons', 'kiali.yaml'));
    const missing = check(await runDoctor(w.ctx), 'istio add-ons');
    expect(missing.verdict).toBe('fail');
    expect(missing.found).toBe(`${join(w.dirs.istioHome, 'samples', 'addons')} lacks kiali.yaml`);
  });

  it("fails inotify limits below kind's known-issue values (Ubuntu's defaults) with the sysctl fix, and passes them on Docker Desktop where they cannot be read", async () => {
    const ubuntu = healthy({ sysctl: { 'fs.inotify.max_user_watches': '8192', 'fs.inotify.max_user_instances': '128' } });
    const low = check(await runDoctor(ubuntu.ctx), 'inotify');
    expect(low).toEqual({
      name: 'inotify',
      verdict: 'fail',
      found:
        'max_user_watches 8192, max_user_instances 128: kind needs max_user_watches >= 524288 and max_user_instances >= 512 (pods fail with "too many open files")',
      fix: "sudo sysctl fs.inotify.max_user_watches=524288 && sudo sysctl fs.inotify.max_user_instances=512; to keep it after a reboot add `fs.inotify.max_user_watches = 524288` and `fs.inotify.max_user_instances = 512` to /etc/sysctl.d/99-kind.conf (kind's known issues: too many open files)",
    });
    // A recent kernel sizes max_user_watches from memory; only the instances are short then.
    const instances = check(
      await runDoctor(healthy({ sysctl: { 'fs.inotify.max_user_watches': '1048576', 'fs.inotify.max_user_instances': '128' } }).ctx),
      'inotify',
    );
    expect(instances.verdict).toBe('fail');
    expect(instances.fix).toMatch(/^sudo sysctl fs\.inotify\.max_user_instances=512;/);
    expect(check(await runDoctor(healthy().ctx), 'inotify')).toEqual({
      name: 'inotify',
      verdict: 'ok',
      found: 'max_user_watches 524288, max_user_instances 512',
    });
    const mac = healthy({ sysctl: { 'fs.inotify.max_user_watches': undefined, 'fs.inotify.max_user_instances': undefined } });
    expect(check(await runDoctor(mac.ctx), 'inotify')).toMatchObject({
      verdict: 'ok',
      found: 'not a Linux host (Docker Desktop sets the limits in its own VM)',
    });
  });

  it('stops `make up` at the preflight when the inotify limits are too low', async () => {
    const w = healthy({ sysctl: { 'fs.inotify.max_user_instances': '128' } });
    const checks = await runDoctor(w.ctx);
    expect(checks.filter((c) => c.verdict === 'fail').map((c) => c.name)).toEqual(['inotify']);
  });

  it('prints one line per check and the fix under each problem', () => {
    const lines: string[] = [];
    printChecks(
      (l) => lines.push(l),
      [
        { name: 'kind', verdict: 'ok', found: 'v0.30.0' },
        { name: 'helm', verdict: 'fail', found: 'not found on PATH', fix: 'install Helm 3.8 or newer' },
      ],
    );
    expect(lines).toEqual([
      '  ok    kind           v0.30.0',
      '  FAIL  helm           not found on PATH',
      '                       fix: install Helm 3.8 or newer',
    ]);
  });

  it('reads versions out of each tool’s own output format', () => {
    expect(parseVersion('kind v0.30.0 go1.24.6 linux/amd64')).toEqual([0, 30, 0]);
    expect(parseVersion('v3.18.4+gd80839c')).toEqual([3, 18, 4]);
    expect(parseVersion('client version: 1.30.8')).toEqual([1, 30, 8]);
    expect(parseVersion('no version here')).toBeUndefined();
  });
});
