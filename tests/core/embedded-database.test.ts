import { afterAll, afterEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openCluster } from '../../core/db/cluster'
import { connectPostgres } from '../../core/db/connect'
import { embeddedDatabaseUrl } from '../../core/db/embedded'
import { repoRoot, runToExit, startChild, type Child } from '../support/child'
import { tempDir } from '../support/temp'

/**
 * The embedded default (no DATABASE_URL): the service's own PostgreSQL in
 * <data dir>/pg, through its socket only, durable, and recovered from
 * whatever a killed process leaves behind.
 */

const dirs: string[] = []
const children: Child[] = []
afterEach(async () => {
  // A graceful stop stops each service's cluster too.
  for (const child of children.splice(0)) await child.stop()
})
afterAll(async () => {
  for (const dir of dirs) {
    // A postmaster a killed service left behind and no later start took over.
    if (existsSync(join(dir, 'pg', 'postmaster.pid'))) await (await openCluster(join(dir, 'pg'), { maxConnections: 1 })).stop('immediate')
    rmSync(dir, { recursive: true, force: true })
  }
}, 60_000)

function dataDir(): string {
  const dir = tempDir('juststorage-embedded-')
  dirs.push(dir)
  return dir
}

async function start(dir: string): Promise<Child> {
  const child = await startChild({ dataDir: dir })
  children.push(child)
  return child
}

const postmasterPid = (dir: string) => Number(readFileSync(join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0])
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z'
  } catch {
    return false
  }
}

async function upload(child: Child, body: string): Promise<string> {
  const response = await fetch(`${child.url}/v1/objects?namespace=embedded&tenant_id=acme`, { method: 'POST', body })
  expect(response.status).toBe(201)
  return (await response.json()).id
}

async function download(child: Child, id: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${child.url}/v1/objects/${id}`)
  return { status: response.status, body: await response.text() }
}

/** Runs the service on the embedded default until it exits by itself (it refuses to start). */
const refusal = (dir: string) => runToExit(['main.ts'], { DATA_DIR: dir, DATABASE_URL: undefined, LISTEN_ADDR: '127.0.0.1:0', AUTH_DISABLED: 'true' })

describe('embedded PostgreSQL', () => {
  test('the first start creates a cluster in <data dir>/pg, reached only through its socket, with fsync and checksums on', async () => {
    const dir = dataDir()
    const child = await start(dir)
    const id = await upload(child, 'first')
    expect(existsSync(join(dir, 'pg', 'PG_VERSION'))).toBe(true)
    expect(readdirSync(join(dir, 'pg')).filter((name) => name.startsWith('.s.PGSQL.')).sort()).toEqual(['.s.PGSQL.5432', '.s.PGSQL.5432.lock'])

    const sql = connectPostgres(embeddedDatabaseUrl(dir), { max: 1 })
    try {
      const [settings] = await sql`select current_setting('listen_addresses') as listen, current_setting('fsync') as fsync,
        current_setting('synchronous_commit') as synchronous_commit, current_setting('data_checksums') as checksums,
        current_setting('shared_buffers') as shared_buffers, inet_server_addr() as address, version() as version`
      expect(settings).toMatchObject({ listen: '', fsync: 'on', synchronous_commit: 'on', checksums: 'on', shared_buffers: '128MB', address: null })
      expect(settings!.version).toStartWith('PostgreSQL 18')
      const [row] = await sql`select status from objects where id = ${id}`
      expect(row).toEqual({ status: 'COMMITTED' })
    } finally {
      await sql.end()
    }
    // The postmaster listens on no TCP socket.
    expect(listeningTcpSocketsOf(postmasterPid(dir))).toEqual([])
  })

  test('a graceful stop stops the cluster; the next start finds every object', async () => {
    const dir = dataDir()
    let child = await start(dir)
    const id = await upload(child, 'kept')
    const pid = postmasterPid(dir)
    await child.stop()
    expect(existsSync(join(dir, 'pg', 'postmaster.pid'))).toBe(false)
    expect(alive(pid)).toBe(false)
    child = await start(dir)
    expect(await download(child, id)).toEqual({ status: 200, body: 'kept' })
  })

  test('after kill -9 of the service the postmaster it leaves running is restarted, and every acknowledged object reads back', async () => {
    const dir = dataDir()
    let child = await start(dir)
    const ids = [await upload(child, 'one'), await upload(child, 'two')]
    const orphaned = postmasterPid(dir)
    await child.kill('SIGKILL')
    expect(alive(orphaned)).toBe(true)

    child = await start(dir)
    expect(alive(orphaned)).toBe(false)
    expect(postmasterPid(dir)).not.toBe(orphaned)
    expect(await download(child, ids[0]!)).toEqual({ status: 200, body: 'one' })
    expect(await download(child, ids[1]!)).toEqual({ status: 200, body: 'two' })
  })

  test('a second process on the same data directory refuses to start, naming the one that holds it, and the first keeps serving', async () => {
    const dir = dataDir()
    const first = await start(dir)
    const id = await upload(first, 'held')
    const second = await refusal(dir)
    expect(second.code).toBe(1)
    expect(second.output).toContain(`is in use by another process (juststorage pid ${first.pid})`)
    expect(await download(first, id)).toEqual({ status: 200, body: 'held' })
  })

  test('fsck refuses while the service runs on the embedded default, and checks once it is stopped', async () => {
    const dir = dataDir()
    const child = await start(dir)
    await upload(child, 'checked')
    const fsck = () => runToExit(['scripts/fsck.ts'], { DATA_DIR: dir, DATABASE_URL: undefined })
    const whileRunning = await fsck()
    expect(whileRunning.code).toBe(1)
    expect(whileRunning.output).toContain(`is in use by another process (juststorage pid ${child.pid})`)
    expect((await download(child, await upload(child, 'still serving'))).status).toBe(200)
    await child.stop()
    const stopped = await fsck()
    expect(stopped.output).toMatch(/^consistent$/m)
    expect(stopped.code).toBe(0)
  })

  test('a pid file naming a live process that is no postmaster (a reused pid) does not block the start, and that process is left alone', async () => {
    const dir = dataDir()
    let child = await start(dir)
    const id = await upload(child, 'stale pid')
    await child.kill('SIGKILL')
    // Crash the orphaned postmaster too, as a container restart would, and let an unrelated process take its pid's place.
    process.kill(postmasterPid(dir), 'SIGKILL')
    await Bun.sleep(200)
    const bystander = Bun.spawn(['sleep', '60'])
    const pidFile = join(dir, 'pg', 'postmaster.pid')
    const lines = readFileSync(pidFile, 'utf8').split('\n')
    writeFileSync(pidFile, [String(bystander.pid), ...lines.slice(1)].join('\n'))
    try {
      child = await start(dir)
      expect(await download(child, id)).toEqual({ status: 200, body: 'stale pid' })
      expect(alive(bystander.pid)).toBe(true)
    } finally {
      bystander.kill()
    }
  })

  test('a start killed during initdb leaves nothing that blocks the next one', async () => {
    const dir = dataDir()
    const environment: Record<string, string | undefined> = { ...process.env, DATA_DIR: dir, LISTEN_ADDR: '127.0.0.1:0', AUTH_DISABLED: 'true' }
    delete environment.DATABASE_URL
    const proc = Bun.spawn([process.execPath, 'main.ts'], { cwd: repoRoot, env: environment, stdout: 'ignore', stderr: 'ignore' })
    const deadline = Date.now() + 20_000
    while (!readdirSync(dir).some((name) => name.startsWith('pg.initdb')) && Date.now() < deadline) await Bun.sleep(5)
    proc.kill('SIGKILL')
    await proc.exited
    // The crash takes the initdb it started too (a pod or machine going down), so none writes on into its leftover.
    killProcessesNaming(`${dir}/pg.initdb`)
    expect(existsSync(join(dir, 'pg', 'PG_VERSION'))).toBe(false)

    const child = await start(dir)
    const id = await upload(child, 'after initdb')
    expect(await download(child, id)).toEqual({ status: 200, body: 'after initdb' })
    expect(readdirSync(dir).filter((name) => name.startsWith('pg.initdb'))).toEqual([])
  })

  test('a data directory holding a store of the earlier PGlite default is refused with the command that migrates it', async () => {
    const dir = dataDir()
    mkdirSync(join(dir, 'meta'))
    writeFileSync(join(dir, 'meta', 'PG_VERSION'), '17\n')
    const result = await refusal(dir)
    expect(result.code).toBe(1)
    expect(result.output).toContain(`${join(dir, 'meta')} holds a store of the earlier embedded database (PGlite)`)
    expect(result.output).toContain('npm run migrate-pglite')
    expect(existsSync(join(dir, 'pg'))).toBe(false)
  })
})

/** Inodes of the TCP sockets in LISTEN state that the process holds open. */
function listeningTcpSocketsOf(pid: number): string[] {
  const held = new Set(readdirSync(`/proc/${pid}/fd`).map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1]))
  const listening = ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1).map((line) => line.trim().split(/\s+/)).filter((fields) => fields[3] === '0A').map((fields) => fields[9]!),
  )
  expect(listening.length).toBeGreaterThan(0)
  return listening.filter((inode) => held.has(inode))
}

/** SIGKILLs every process whose command line names `text`. */
function killProcessesNaming(text: string): void {
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) process.kill(Number(pid), 'SIGKILL')
    } catch {
      // Gone meanwhile.
    }
  }
}
