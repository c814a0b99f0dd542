import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { cachePath } from './cache.js';
import { ComponentError } from './component-error.js';
import { createRunDir, freePort, removeRunDir, spawnManaged } from './processes.js';
import { aptInstall, run, runAsync, which } from './tools.js';

const component = 'postgres';
const fix = 'install PostgreSQL server binaries (Debian: apt-get install postgresql) and re-run';

/** Server binaries found by `provisionPostgres`. */
export interface PostgresInstallation {
  /** Directory holding initdb, pg_ctl and postgres. */
  readonly bindir: string;
  readonly initdb: string;
  readonly postgres: string;
  /** Server version as `postgres --version` prints it, e.g. `15.13`. */
  readonly version: string;
}

function majorOf(dir: string): number {
  return Number(/\/(\d+)\/bin$/.exec(dir)?.[1] ?? 0);
}

function findBindir(): string | undefined {
  // PATH first; a symlinked initdb (Debian puts none on PATH, images often do) names its real bindir.
  const onPath = which('initdb');
  if (onPath) {
    const dir = dirname(realpathSync(onPath));
    if (existsSync(join(dir, 'postgres'))) return dir;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  return readdirSync(root)
    .map((version) => join(root, version, 'bin'))
    .filter((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres')))
    .sort((a, b) => majorOf(b) - majorOf(a))[0];
}

/** Finds the PostgreSQL server binaries (PATH, then the highest /usr/lib/postgresql/N/bin, then apt). */
export function provisionPostgres(): PostgresInstallation {
  let bindir = findBindir();
  if (!bindir) {
    aptInstall(component, ['postgresql'], fix);
    bindir = findBindir();
  }
  if (!bindir) throw new ComponentError(component, 'initdb and postgres not found on PATH or under /usr/lib/postgresql/*/bin', fix);
  const postgres = join(bindir, 'postgres');
  const printed = run(postgres, ['--version'], { component, fix });
  const version = /\(PostgreSQL\) (\d+(?:\.\d+)?)/.exec(printed)?.[1];
  if (!version) throw new ComponentError(component, `cannot read the version from \`${postgres} --version\`: ${printed}`, fix);
  return { bindir, initdb: join(bindir, 'initdb'), postgres, version };
}

interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

function lookupUser(name: string): OsUser | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  return uid && gid ? { name, uid: Number(uid), gid: Number(gid) } : undefined;
}

/**
 * The account the server runs as. PostgreSQL refuses to run as root, and tests
 * (like CI here) often run as root: then we use the `postgres` system user that
 * the Debian packages create, or create an unprivileged system user ourselves
 * when the binaries came without one. Undefined when we are not root: the
 * server then simply runs as us.
 */
function serverUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const existing = lookupUser('postgres') ?? lookupUser('meshkit-pg');
  if (existing) return existing;
  run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'meshkit-pg'], {
    component,
    fix: 'create an unprivileged user named postgres (useradd --system postgres) and re-run',
  });
  const created = lookupUser('meshkit-pg');
  if (!created) throw new ComponentError(component, 'useradd meshkit-pg succeeded but the user is not in /etc/passwd', fix);
  return created;
}

/**
 * Creates database `name` on the server behind `adminUrl` and returns the URL of
 * the new database. Standalone so that test workers, which only receive the URL
 * through `inject('postgres')`, can create their own databases.
 */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new Error(`'name' (${name}) must be a lower-case SQL identifier of at most 63 characters (a-z, 0-9, _)`);
  }
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface RunningPostgres {
  /** Superuser URL of the `postgres` database: `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** Server version found by `provisionPostgres`. */
  readonly version: string;
  /** Milliseconds from spawning the postmaster to `select 1` answering. */
  readonly startupMs: number;
  /** Creates a database (lower-case identifier) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown, then removes the data directory and the socket directory. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL server: fresh data directory under
 * .cache/postgres/run, loopback TCP on a free port, unix socket in a private temp
 * directory, trust authentication, durability switched off for speed.
 * Resolves once `pg` can run `select 1`.
 */
export async function startPostgres(): Promise<RunningPostgres> {
  const installation = provisionPostgres();
  const user = serverUser();
  const port = await freePort();
  // Only the data directory is private: the server user must be able to reach it through runDir.
  const runDir = createRunDir(cachePath('postgres', 'run'), 'pg-', { mode: 0o755 });
  const dataDir = join(runDir, 'data');
  const logFile = join(runDir, 'postgres.log');
  // Unix socket paths are limited to ~107 bytes, so the socket lives in a short temp path, not the cache.
  const socketDir = createRunDir(tmpdir(), 'meshkit-pg-');
  mkdirSync(dataDir, { mode: 0o700 });
  if (user) {
    chownSync(dataDir, user.uid, user.gid);
    chownSync(socketDir, user.uid, user.gid);
  }
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  const cleanup = () => {
    removeRunDir(runDir);
    removeRunDir(socketDir);
  };

  try {
    // Async: the global setup starts kube-apiserver and Kafka meanwhile.
    await runAsync(installation.initdb, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
      ...asUser,
      component,
      label: 'initdb',
      cwd: dataDir,
      timeout: 120_000,
      fix: user ? `every directory above ${dataDir} must be searchable by user ${user.name} (or set MESHKIT_CACHE to such a place)` : fix,
    });
  } catch (error) {
    cleanup();
    throw error;
  }

  const began = performance.now();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: socketDir,
    // A throwaway server: losing it on a crash is fine, waiting for the disk is not.
    fsync: 'off',
    full_page_writes: 'off',
    synchronous_commit: 'off',
    // Several services' pools run against one server in the service tests.
    max_connections: '200',
    // Opt-in statement statistics for profiling (bench/pipeline.ts prints them): off by default, so the server is what a user gets.
    ...(process.env['MESHKIT_PG_STAT_STATEMENTS'] === '1' ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on' } : {}),
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
  // SIGINT is PostgreSQL's fast shutdown: it ends sessions instead of waiting for them.
  const server = await spawnManaged(installation.postgres, args, {
    ...asUser,
    name: component,
    logFile,
    fix,
    cwd: dataDir,
    stopSignal: 'SIGINT',
    graceMs: 30_000,
  }).catch((error: unknown) => {
    cleanup();
    throw error;
  });
  const stop = async (): Promise<void> => {
    await server.stop();
    cleanup();
  };

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  try {
    await server.waitUntil(
      `accepting connections on port ${port}`,
      async () => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
        try {
          await client.connect();
          await client.query('select 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const startupMs = Math.round(performance.now() - began);

  return {
    url,
    version: installation.version,
    startupMs,
    createDatabase: (name) => createDatabase(url, name),
    stop,
  };
}
