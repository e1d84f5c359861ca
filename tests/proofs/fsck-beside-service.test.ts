import { afterAll, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { connectPostgres } from '../../core/db/connect'
import { presenceLockId } from '../../core/db/presence'
import { runToExit as run, startChild, type Child } from '../support/child'
import { sharedCluster } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * fsck --repair removes files the service may have renamed but not yet
 * committed: it must never run beside a service on the same database, and no
 * service may start while it runs. Replicas beside each other are fine.
 */

const dirs: string[] = []
const children: Child[] = []
afterAll(async () => {
  for (const child of children) await child.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function dataDir(): string {
  const dir = tempDir('juststorage-presence-')
  dirs.push(dir)
  return dir
}

test('fsck --repair refuses while any replica runs on the database, and runs once every replica stopped', async () => {
  const databaseUrl = await (await sharedCluster()).createDatabase(`presence_${process.pid}_${Date.now()}`)
  const shared = dataDir()
  const first = await startChild({ databaseUrl, dataDir: shared })
  children.push(first)
  // A second replica on the same database starts beside the first.
  const second = await startChild({ databaseUrl, dataDir: dataDir() })
  children.push(second)
  const response = await fetch(`${first.url}/v1/objects?namespace=presence&tenant_id=acme`, { method: 'POST', body: 'kept' })
  expect(response.status).toBe(201)
  const { id } = await response.json()

  const env = { DATA_DIR: shared, DATABASE_URL: databaseUrl }
  const refused = await run(['scripts/fsck.ts', '--repair'], env)
  expect(refused.code).toBe(1)
  expect(refused.output).toContain(`the database is in use by juststorage pid ${Math.min(first.pid, second.pid)}`)
  expect(refused.output).toContain(`juststorage pid ${Math.max(first.pid, second.pid)}`)
  expect((await fetch(`${second.url}/v1/objects/${id}`)).status).toBe(200)

  await first.stop()
  await second.stop()
  children.length = 0
  const checked = await run(['scripts/fsck.ts', '--repair'], env)
  expect(checked.output).toMatch(/^consistent$/m)
  expect(checked.code).toBe(0)
})

test('a service refuses to start while fsck holds the database', async () => {
  const databaseUrl = await (await sharedCluster()).createDatabase(`presence_fsck_${process.pid}_${Date.now()}`)
  // The lock fsck takes, held by a session named as fsck's would be.
  const fsck = connectPostgres(databaseUrl, { max: 1, connection: { application_name: 'juststorage pid 424242' } })
  try {
    const [{ held }] = await fsck<[{ held: boolean }]>`select pg_try_advisory_lock(${presenceLockId}) as held`
    expect(held).toBe(true)
    const service = await run(['main.ts'], { DATA_DIR: dataDir(), DATABASE_URL: databaseUrl, LISTEN_ADDR: '127.0.0.1:0', AUTH_DISABLED: 'true' })
    expect(service.code).toBe(1)
    expect(service.output).toContain('the database is in use by juststorage pid 424242 (fsck or another tool)')
  } finally {
    await fsck.end()
  }
})

test("a claim waits for a holder that lets go within moments, as a stopped process's backend does", async () => {
  const databaseUrl = await (await sharedCluster()).createDatabase(`presence_wait_${process.pid}_${Date.now()}`)
  const leaving = connectPostgres(databaseUrl, { max: 1, connection: { application_name: 'juststorage pid 434343' } })
  try {
    const [{ held }] = await leaving<[{ held: boolean }]>`select pg_try_advisory_lock_shared(${presenceLockId}) as held`
    expect(held).toBe(true)
    // fsck starts while the lock is held; the holder lets go a second later.
    const checking = run(['scripts/fsck.ts'], { DATA_DIR: dataDir(), DATABASE_URL: databaseUrl })
    await Bun.sleep(1000)
    await leaving`select pg_advisory_unlock_all()`
    const checked = await checking
    expect(checked.output).toMatch(/^consistent$/m)
    expect(checked.code).toBe(0)
  } finally {
    await leaving.end()
  }
})
