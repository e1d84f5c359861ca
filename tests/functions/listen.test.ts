import { afterAll, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { runToExit, startChild, type Child } from '../support/child'
import { sharedCluster } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * The service binds its port exclusively: a second process started on the
 * same port (by mistake, with its own data) must not take half the requests.
 */

const dirs: string[] = []
let first: Child | undefined
afterAll(async () => {
  await first?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

test('a second service on a port already in use refuses to start, and the first keeps every request', async () => {
  const cluster = await sharedCluster()
  const dataDir = () => {
    const dir = tempDir('juststorage-listen-')
    dirs.push(dir)
    return dir
  }
  first = await startChild({ databaseUrl: await cluster.createDatabase(`listen_a_${process.pid}`), dataDir: dataDir() })
  const address = new URL(first.url).host
  const second = await runToExit(
    ['main.ts'],
    { DATA_DIR: dataDir(), DATABASE_URL: await cluster.createDatabase(`listen_b_${process.pid}`), LISTEN_ADDR: address, AUTH_DISABLED: 'true' },
    20_000,
  )
  expect({ exited: second.code, mentionsAddress: second.output.includes(`cannot listen on ${address.replace(/:\d+$/, '')}`) }).toEqual({ exited: 1, mentionsAddress: true })

  // Every request reaches the first service: an object it stored is found each time.
  const response = await fetch(`${first.url}/v1/objects?namespace=listen&tenant_id=acme`, { method: 'POST', body: 'only here' })
  expect(response.status).toBe(201)
  const { id } = await response.json()
  for (let i = 0; i < 20; i++) expect((await fetch(`${first.url}/v1/objects/${id}`)).status).toBe(200)
})
