import { afterAll, expect, test } from 'bun:test'
import { existsSync, rmSync } from 'node:fs'
import { basename, join } from 'node:path'
import { blobFile } from '../../core/store/paths'
import { runToExit, startChild } from '../support/child'
import { sharedCluster } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * A data directory whose blob files meet a database that knows no blob (its
 * database volume lost, a wrong DATABASE_URL): the service refuses to start
 * instead of serving nothing and letting GC's orphan sweep delete every file.
 */

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function dataDir(): string {
  const dir = tempDir('juststorage-foreign-')
  dirs.push(dir)
  return dir
}

/** An entry point on a data directory and database (undefined: the embedded default), until it exits. */
const run = (script: string[], env: { DATA_DIR: string; DATABASE_URL?: string }) =>
  runToExit(script, { LISTEN_ADDR: '127.0.0.1:0', AUTH_DISABLED: 'true', DATABASE_URL: undefined, ...env })

/** Stores one object in a file (not inline) and stops; returns the blob file. */
async function storeFile(dir: string, databaseUrl: string | undefined): Promise<string> {
  const child = await startChild({ databaseUrl, dataDir: dir, env: { INLINE_MAX_BYTES: '0' } })
  try {
    expect((await fetch(`${child.url}/v1/objects?namespace=foreign&tenant_id=acme`, { method: 'POST', body: 'kept in a file' })).status).toBe(201)
  } finally {
    await child.stop()
  }
  return blobFile(join(dir, 'hot'), new Bun.CryptoHasher('sha256').update('kept in a file').digest('hex'))
}

test('blob files beside an empty database stop the start; the right database starts; fsck --repair discards them on purpose', async () => {
  const cluster = await sharedCluster()
  const own = await cluster.createDatabase(`foreign_own_${process.pid}`)
  const other = await cluster.createDatabase(`foreign_other_${process.pid}`)
  const dir = dataDir()
  const file = await storeFile(dir, own)

  const refused = await run(['main.ts'], { DATA_DIR: dir, DATABASE_URL: other })
  expect(refused.code).toBe(1)
  expect(refused.output).toContain(`holds blobs (sha256:${basename(file)}) but the database holds no blob`)
  expect(refused.output).toContain('npm run fsck -- --repair')
  expect(existsSync(file)).toBe(true)

  // With its own database the same directory starts and serves.
  const child = await startChild({ databaseUrl: own, dataDir: dir })
  await child.stop()

  const repaired = await run(['scripts/fsck.ts', '--repair'], { DATA_DIR: dir, DATABASE_URL: other })
  expect(repaired.code).toBe(0)
  expect(existsSync(file)).toBe(false)
  const started = await startChild({ databaseUrl: other, dataDir: dir })
  await started.stop()
})

test('on the embedded default, blob files whose database is gone stop the start and stay', async () => {
  const dir = dataDir()
  const file = await storeFile(dir, undefined)
  rmSync(join(dir, 'pg'), { recursive: true, force: true })
  const refused = await run(['main.ts'], { DATA_DIR: dir })
  expect(refused.code).toBe(1)
  expect(refused.output).toContain('but the database holds no blob')
  expect(existsSync(file)).toBe(true)
})
