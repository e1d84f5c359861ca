// Throwaway S3 endpoint for tests.
//
// With S3_ENDPOINT set (and S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, optionally
// S3_REGION) we use that server as is. Otherwise we start a single-node Ceph
// cluster from Debian's packages (scripts/install-ceph.sh) in a temp dir: one
// monitor, one BlueStore OSD on a sparse file and RGW, the S3 gateway. Config,
// sockets, logs and data all live in that dir and the ports are picked free,
// so several runs and a developer's own cluster never meet.
import { S3Client, type Subprocess } from 'bun'
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from './child'
import { tempDir } from './temp'

export interface S3Target {
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  /** The cluster's directory (ceph.conf, log/, data) when started here; unset with S3_ENDPOINT. */
  dir?: string
  /** Creates a bucket and returns its name: a fresh unique one unless `name` is given. */
  createBucket(name?: string): Promise<string>
  /** Deletes an empty bucket. */
  deleteBucket(name: string): Promise<void>
  /** A client of one bucket with these credentials. */
  client(bucket: string): S3Client
  /** Kills the daemons and deletes their files (no-op with S3_ENDPOINT). */
  stop(): Promise<void>
  /** The S3 gateway of a cluster started here, to take away and bring back (outage tests); unset with S3_ENDPOINT. */
  gateway?: { kill(): Promise<void>; start(): Promise<void>; pause(): void; resume(): void }
}

export interface CephOptions {
  /** How long the whole start may take before it is given up; 90 s unless told. */
  readyTimeoutMs?: number
  /** Settings for RGW's section of ceph.conf, over the defaults below. */
  rgw?: Record<string, string>
}

let shared: Promise<S3Target> | undefined
/** One S3 endpoint per test process; each test takes its own bucket in it. */
export function sharedS3(): Promise<S3Target> {
  const endpoint = process.env.S3_ENDPOINT
  shared ??= endpoint ? Promise.resolve().then(() => externalS3(endpoint)) : startCeph()
  return shared
}

export async function stopSharedS3(): Promise<void> {
  const target = shared
  shared = undefined
  // A start that failed has already cleaned up and failed the tests that asked for it.
  await (await target?.catch(() => undefined))?.stop()
}

// The local cluster's only user; a throwaway cluster needs no secret credentials.
const localCredentials = { accessKeyId: 'JUSTSTORAGETESTKEY00', secretAccessKey: 'juststorage-test-secret-key-of-40-chars!' }
const localRegion = 'us-east-1'

function externalS3(endpoint: string): S3Target {
  const accessKeyId = process.env.S3_ACCESS_KEY_ID
  const secretAccessKey = process.env.S3_SECRET_ACCESS_KEY
  if (!accessKeyId || !secretAccessKey) throw new Error('S3_ENDPOINT is set: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are needed too')
  return s3Target({ endpoint: endpoint.replace(/\/+$/, ''), region: process.env.S3_REGION || 'us-east-1', accessKeyId, secretAccessKey }, async () => {})
}

type Credentials = Pick<S3Target, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>

let bucketCounter = 0

function s3Target(credentials: Credentials, stop: () => Promise<void>, dir?: string, gateway?: S3Target['gateway']): S3Target {
  return {
    ...credentials,
    dir,
    gateway,
    async createBucket(name) {
      const bucket = name ?? `juststorage-${process.pid}-${++bucketCounter}-${Date.now().toString(36)}`
      // Outside us-east-1, AWS wants the region in the body; RGW and others accept it.
      const body =
        credentials.region === 'us-east-1'
          ? ''
          : `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${credentials.region}</LocationConstraint></CreateBucketConfiguration>`
      const response = await signedFetch(credentials, 'PUT', bucket, body)
      const text = await response.text()
      // A rerun against a long-lived S3_ENDPOINT may find its named bucket there already.
      if (!response.ok && !text.includes('BucketAlreadyOwnedByYou')) throw new Error(`creating bucket ${bucket}: ${response.status} ${text}`)
      return bucket
    },
    async deleteBucket(name) {
      const response = await signedFetch(credentials, 'DELETE', name)
      if (!response.ok) throw new Error(`deleting bucket ${name}: ${response.status} ${await response.text()}`)
    },
    client: (bucket) => new S3Client({ ...credentials, bucket }),
    stop,
  }
}

/** A path-style request signed with AWS Signature V4: Bun's S3Client has no bucket operations. */
function signedFetch(credentials: Credentials, method: string, bucket: string, body = ''): Promise<Response> {
  const url = new URL(`${credentials.endpoint}/${encodeURIComponent(bucket)}`)
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '')
  const day = amzDate.slice(0, 8)
  const payloadHash = sha256Hex(body)
  // Sorted by name, as the signature's canonical form wants; fetch sends Host itself.
  const headers: Record<string, string> = { host: url.host, 'x-amz-content-sha256': payloadHash, 'x-amz-date': amzDate }
  const signedHeaders = Object.keys(headers).join(';')
  const canonicalRequest = [method, url.pathname, '', ...Object.entries(headers).map(([k, v]) => `${k}:${v}`), '', signedHeaders, payloadHash].join('\n')
  const scope = `${day}/${credentials.region}/s3/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
  let key: Buffer | string = `AWS4${credentials.secretAccessKey}`
  for (const part of [day, credentials.region, 's3', 'aws4_request']) key = hmac(key, part)
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex')
  const { host: _host, ...sent } = headers
  return fetch(url, {
    method,
    body: body || undefined,
    headers: { ...sent, authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` },
  })
}

const sha256Hex = (data: string) => createHash('sha256').update(data).digest('hex')
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest()

/** Starts a fresh single-node cluster; stop() kills it and deletes its directory. */
export async function startCeph(options: CephOptions = {}): Promise<S3Target> {
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000)
  const dir = tempDir('juststorage-ceph-')
  const daemons = supervise(dir)
  try {
    const endpoint = await bootCluster(dir, daemons, deadline, options.rgw ?? {})
    const gateway = {
      kill: () => daemons.kill('client.rgw'),
      // A gateway that hangs: connections open, no answers.
      pause: () => daemons.signal('client.rgw', 'SIGSTOP'),
      resume: () => daemons.signal('client.rgw', 'SIGCONT'),
      async start() {
        daemons.respawn('client.rgw')
        await daemons.guard(waitForHttp(endpoint, Date.now() + 60_000))
      },
    }
    return s3Target({ endpoint, region: localRegion, ...localCredentials }, () => daemons.stop(), dir, gateway)
  } catch (error) {
    const logs = daemons.logTails()
    await daemons.stop()
    throw new Error(`starting Ceph failed: ${(error as Error).message}\n${logs}`)
  }
}

async function bootCluster(dir: string, daemons: Daemons, deadline: number, rgw: Record<string, string>): Promise<string> {
  const [monPort, rgwPort] = await twoFreePorts()
  const fsid = randomUUID()
  const conf = join(dir, 'ceph.conf')
  for (const sub of ['run', 'log', 'mon', 'osd', 'rgw']) mkdirSync(join(dir, sub))
  writeFileSync(conf, cephConfig(dir, fsid, monPort, rgwPort, rgw))
  const ceph = (...args: string[]) => ['-c', conf, ...args]
  const run = (command: string[]) => runUntil(command, deadline)

  const monmap = join(dir, 'monmap')
  await run(['monmaptool', '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap])
  await run(['ceph-mon', ...ceph('-i', 'a', '--mkfs', '--monmap', monmap)])
  daemons.spawn('mon.a', ['ceph-mon', ...ceph('-i', 'a', '-f')])

  // The OSD's store is made while the monitor comes up and registers the OSD.
  const osdUuid = randomUUID()
  await Promise.all([
    run(['ceph-osd', ...ceph('-i', '0', '--mkfs', '--osd-uuid', osdUuid)]),
    daemons.guard(run(['ceph', ...ceph('--connect-timeout', '30', 'osd', 'new', osdUuid)])),
  ])
  daemons.spawn('osd.0', ['ceph-osd', ...ceph('-i', '0', '-f')])
  // RGW creates its pools and waits for the OSD by itself.
  daemons.spawn('client.rgw', ['radosgw', ...ceph('-n', 'client.rgw', '-f')])

  const endpoint = `http://127.0.0.1:${rgwPort}`
  await daemons.guard(waitForHttp(endpoint, deadline))
  const { accessKeyId, secretAccessKey } = localCredentials
  await daemons.guard(
    run(['radosgw-admin', ...ceph('user', 'create', '--uid', 'juststorage', '--display-name', 'juststorage tests', '--access-key', accessKeyId, '--secret-key', secretAccessKey)]),
  )
  return endpoint
}

/**
 * The cluster's whole configuration. Settings that are not Ceph's defaults
 * are there to make one small, fast, unauthenticated test node.
 */
function cephConfig(dir: string, fsid: string, monPort: number, rgwPort: number, rgw: Record<string, string>): string {
  const sections: Record<string, Record<string, string | number | boolean>> = {
    global: {
      fsid,
      // msgr2 only, on loopback: one port for the monitor, nothing reachable from outside.
      mon_host: `v2:127.0.0.1:${monPort}`,
      public_addr: '127.0.0.1',
      cluster_addr: '127.0.0.1',
      ms_bind_msgr1: false,
      ms_bind_ipv6: false,
      auth_cluster_required: 'none',
      auth_service_required: 'none',
      auth_client_required: 'none',
      // Without cephx the default "secure" mode has no session key: radosgw cannot reach the monitor (-13) in any other mode.
      ms_mon_client_mode: 'crc',
      // Everything under dir; admin sockets and pid files go to run_dir.
      run_dir: join(dir, 'run'),
      log_file: join(dir, 'log', '$name.log'),
      // One OSD: pools of one replica, placed across OSDs rather than hosts, and few PGs.
      osd_pool_default_size: 1,
      osd_pool_default_min_size: 1,
      osd_pool_default_pg_num: 8,
      osd_pool_default_pgp_num: 8,
      osd_crush_chooseleaf_type: 0,
      mon_warn_on_pool_no_redundancy: false,
      // A nearly full disk must not stop the monitor.
      mon_data_avail_crit: 1,
      // The monitor batches map changes for 1 s by default; each RGW pool costs two of them.
      paxos_propose_interval: 0.05,
      // Closing the block file waits for the AIO poll (250 ms), and the OSD opens it a dozen times while starting.
      bdev_aio_poll_ms: 20,
    },
    mon: { mon_data: join(dir, 'mon') },
    osd: {
      osd_data: join(dir, 'osd'),
      osd_objectstore: 'bluestore',
      // BlueStore on a sparse file in osd_data ("block"): no device, no loop mount. Room for
      // a full benchmark run, whose deleted objects RGW reclaims only hours later.
      bluestore_block_create: true,
      bluestore_block_size: 24 * 2 ** 30,
      osd_memory_target: 2 ** 30,
    },
    'client.rgw': {
      // Without TCP_NODELAY, small responses wait ~40 ms for delayed ACKs.
      rgw_frontends: `beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1`,
      rgw_data: join(dir, 'rgw'),
      // Ops sent before the OSD is up are retried on this tick (5 s by default).
      objecter_tick_interval: 0.5,
      rgw_dynamic_resharding: false,
      // No line per request: logging costs time, and the log goes with the cluster.
      debug_rgw: '0/5',
      ...rgw,
    },
  }
  return Object.entries(sections)
    .map(([name, settings]) => [`[${name}]`, ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`)].join('\n'))
    .join('\n\n') + '\n'
}

interface Daemons {
  /** Starts a daemon in the foreground; its stdout and stderr go to log/<name>.out. */
  spawn(name: string, command: string[]): void
  /** Kills one daemon on purpose (SIGKILL) and waits for it to exit. */
  kill(name: string): Promise<void>
  /** Sends a daemon a signal. */
  signal(name: string, signal: NodeJS.Signals): void
  /** Starts a killed daemon again with its command. */
  respawn(name: string): void
  /** `work`, failing as soon as a daemon exits. */
  guard<T>(work: Promise<T>): Promise<T>
  /** The last lines of every daemon's log, newest daemon first, to explain a failed start. */
  logTails(): string
  /** Kills every daemon, waits for them to exit and deletes dir. */
  stop(): Promise<void>
}

function supervise(dir: string): Daemons {
  const procs = new Map<string, Subprocess>()
  const commands = new Map<string, string[]>()
  const killed = new Set<Subprocess>()
  let stopping = false
  let reportDeath: (error: Error) => void = () => {}
  const died = new Promise<never>((_, reject) => (reportDeath = reject))
  died.catch(() => {}) // Only guard() listens; a later death shows in the tests that use the cluster.
  const watchdog = spawnWatchdog(dir)

  return {
    spawn(name, command) {
      const log = join(dir, 'log', `${name}.out`)
      const proc = Bun.spawn(command, { stdin: 'ignore', stdout: Bun.file(log), stderr: Bun.file(log) })
      procs.set(name, proc)
      commands.set(name, command)
      watchdog.stdin.write(`${proc.pid}\n`)
      watchdog.stdin.flush()
      proc.exited.then((code) => {
        if (!stopping && !killed.has(proc)) reportDeath(new Error(`${command[0]} (${name}) exited with ${proc.signalCode ?? code}`))
      })
    },
    async kill(name) {
      const proc = procs.get(name)!
      killed.add(proc)
      proc.kill('SIGKILL')
      await proc.exited
    },
    signal(name, signal) {
      procs.get(name)!.kill(signal)
    },
    respawn(name) {
      this.spawn(name, commands.get(name)!)
    },
    guard: (work) => Promise.race([work, died]),
    logTails: () => [...procs.keys()].reverse().map((name) => logTail(dir, name)).join('\n'),
    async stop() {
      stopping = true
      // The watchdog would kill the same pids; it goes first so it never hits a reused one.
      watchdog.kill('SIGKILL')
      // A throwaway cluster needs no clean shutdown: its data is deleted next.
      for (const proc of procs.values()) proc.kill('SIGKILL')
      await Promise.all([watchdog.exited, ...[...procs.values()].map((proc) => proc.exited)])
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * A shell that reads daemon pids on stdin and, when stdin closes because this
 * process died without stop() (SIGKILL, a crash), kills them and deletes dir.
 * It ignores SIGINT so that a Ctrl-C of the test run still cleans up.
 */
function spawnWatchdog(dir: string) {
  const script = 'trap "" INT HUP; pids=; while read -r pid; do pids="$pids $pid"; done; [ -n "$pids" ] && kill -9 $pids 2>/dev/null; rm -rf "$0"'
  return Bun.spawn(['sh', '-c', script, dir], { stdin: 'pipe', stdout: 'ignore', stderr: 'ignore' })
}

function logTail(dir: string, name: string, lines = 25): string {
  const parts = [`${name}.log`, `${name}.out`].flatMap((file) => {
    const path = join(dir, 'log', file)
    const text = existsSync(path) ? readFileSync(path, 'utf8').trimEnd() : ''
    return text ? [`--- ${file} (last ${lines} lines) ---\n${text.split('\n').slice(-lines).join('\n')}`] : []
  })
  return parts.join('\n') || `--- ${name}: no log ---`
}

/** Runs a command to completion, killed at the deadline; its output is the error when it fails. */
async function runUntil(command: string[], deadline: number): Promise<string> {
  const proc = Bun.spawn(command, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  let late = false
  const timer = setTimeout(() => ((late = true), proc.kill('SIGKILL')), Math.max(0, deadline - Date.now()))
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    const outcome = late ? 'did not finish in time' : `exited with ${proc.signalCode ?? code}`
    if (code !== 0) throw new Error(`${command.join(' ')} ${outcome}:\n${stdout}${stderr}`)
    return stdout
  } finally {
    clearTimeout(timer)
  }
}

/** Polls until RGW answers: an anonymous GET / lists no buckets once it serves requests. */
async function waitForHttp(url: string, deadline: number): Promise<void> {
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      last = `${response.status} ${(await response.text()).slice(0, 200)}`
      if (response.ok) return
    } catch (error) {
      last = String((error as Error).message ?? error) // Not listening yet.
    }
    await Bun.sleep(100)
  }
  throw new Error(`RGW did not answer at ${url} in time (last: ${last})`)
}

async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort()
  let second = await freePort()
  while (second === first) second = await freePort()
  return [first, second]
}
