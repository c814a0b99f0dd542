/**
 * What a container image runs, locally. No container runtime runs here, so each image the
 * platform uses maps to what its entrypoint would start, from the same sources:
 * - `meshkit/<service>:<tag>`: the Dockerfile's runtime stage, `node main.js` in the folder
 *   holding the bundle (apps/<service>/dist, built by scripts/build-services.ts) with
 *   NODE_ENV=production, as the image's USER unless the pod says otherwise;
 * - `postgres:<n>`: the official image's docker-entrypoint.sh (initdb with POSTGRES_USER and
 *   POSTGRES_PASSWORD into PGDATA on first start, POSTGRES_DB created, every host allowed
 *   with scram-sha-256, then `postgres` listening on all addresses; STOPSIGNAL SIGINT), on
 *   Debian's PostgreSQL server binaries (infra/postgres.ts). The image's uid 70 is Alpine's
 *   `postgres`; the Debian `postgres` account stands in for it, because initdb needs a name
 *   for its user id;
 * - any image whose container gives an absolute `command`: that command (the Strimzi stand-in
 *   writes its broker's command out in full).
 * A container's `command`/`args` replace the image's entrypoint/cmd as Kubernetes does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../infra/cache.js';
import { provisionPostgres } from '../../infra/postgres.js';
import type { ContainerSpec } from './pod-env.js';

export interface ContainerLaunch {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** Environment the image adds under the pod's (`ENV` lines). */
  readonly imageEnv: Readonly<Record<string, string>>;
  /** The image's `USER`, used when the pod's securityContext names none. */
  readonly imageUser: { readonly uid: number; readonly gid: number };
  /** The account that runs the container whatever the pod's securityContext says (an image uid this host lacks). */
  readonly substituteUser?: { readonly uid: number; readonly gid: number };
  /** The image's STOPSIGNAL. */
  readonly stopSignal: 'SIGTERM' | 'SIGINT';
}

const servicePattern = /^(?:[^/]+\/)?meshkit\/([a-z]+):[^/]+$/;
const postgresPattern = /^(?:docker\.io\/)?(?:library\/)?postgres:/;

function lookupUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

/** The bundle a service image carries; fails with the fix when it was not built. */
export function serviceBundle(service: string): string {
  const dir = join(repoRoot, 'apps', service, 'dist');
  if (!existsSync(join(dir, 'main.js'))) {
    throw new Error(`image meshkit/${service}: ${dir}/main.js is missing: run \`make build\` (npm run build) first`);
  }
  return dir;
}

/** The shell docker-entrypoint.sh amounts to for the pods' env, with Debian's server binaries. */
function postgresEntrypoint(bindir: string): string {
  return [
    'set -eu',
    'if [ ! -s "$PGDATA/PG_VERSION" ]; then',
    '  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"',
    '  pw="$(mktemp)"; printf "%s" "$POSTGRES_PASSWORD" > "$pw"',
    `  "${bindir}/initdb" -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >/dev/null`,
    '  rm -f "$pw"',
    '  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"',
    '  if [ "${POSTGRES_DB:-$POSTGRES_USER}" != postgres ]; then',
    `    echo "CREATE DATABASE \\"\${POSTGRES_DB:-$POSTGRES_USER}\\"" | "${bindir}/postgres" --single -D "$PGDATA" -j postgres >/dev/null`,
    '  fi',
    'fi',
    // TCP only: the pod's clients and probes use TCP, and a socket under the pod's /tmp volume
    // can exceed the 107-byte Unix socket path limit in a deep checkout.
    `exec "${bindir}/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=''`,
  ].join('\n');
}

/** How a container starts locally (volumes are the kubelet's business: it rewrites paths into them). */
export function launchFor(container: ContainerSpec): ContainerLaunch {
  const service = servicePattern.exec(container.image)?.[1];
  if (service) {
    const cwd = serviceBundle(service);
    const [command, ...args] = [...(container.command ?? ['node']), ...(container.args ?? (container.command ? [] : ['main.js']))];
    return {
      command: command === 'node' ? process.execPath : command!,
      args,
      cwd: container.workingDir ?? cwd,
      imageEnv: { NODE_ENV: 'production' },
      imageUser: { uid: 10001, gid: 10001 },
      stopSignal: 'SIGTERM',
    };
  }
  if (postgresPattern.test(container.image)) {
    const installation = provisionPostgres();
    const user = lookupUser('postgres');
    if (!user) throw new Error(`image ${container.image}: no 'postgres' account to run the server as (apt-get install postgresql creates it)`);
    return {
      command: '/bin/sh',
      args: ['-c', postgresEntrypoint(installation.bindir)],
      cwd: '/',
      imageEnv: { PGDATA: '/var/lib/postgresql/data', LANG: 'C.UTF-8' },
      imageUser: user,
      substituteUser: user,
      stopSignal: 'SIGINT',
    };
  }
  const [command, ...rest] = container.command ?? [];
  if (command?.startsWith('/')) {
    return {
      command,
      args: [...rest, ...(container.args ?? [])],
      cwd: container.workingDir ?? '/',
      imageEnv: {},
      imageUser: { uid: 0, gid: 0 },
      stopSignal: 'SIGTERM',
    };
  }
  throw new Error(
    `image ${container.image} (container ${container.name}) has no local equivalent: the mesh runtime runs meshkit/<service>, postgres and absolute commands`,
  );
}
