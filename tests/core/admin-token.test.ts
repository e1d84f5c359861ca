import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { adminTokenHash, presentedSecret, secretsEqual, sha256Hex } from '../../core/admin-token'
import { openDatabase, type Database } from '../../core/db/client'
import { settings } from '../../core/db/schema'
import { configureLog } from '../../core/log'
import { captureLogs } from '../support/logs'
import { sharedCluster } from '../support/server'

let databases = 0

describe('adminTokenHash', () => {
  let dir: string
  let database: Database
  beforeEach(async () => {
    dir = mkdtempSync(`${tmpdir()}/juststorage-admin-token-`)
    const databaseUrl = await (await sharedCluster()).createDatabase(`admin_token_${process.pid}_${++databases}`)
    database = await openDatabase({ databaseUrl, dataDir: dir, maxConnections: 1 })
  })
  afterEach(async () => {
    await database.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const storedRows = () => database.db.select().from(settings)

  test('a configured token is used as is: nothing is written or stored', async () => {
    expect(await adminTokenHash(database.db, 'configured-secret', dir)).toBe(sha256Hex('configured-secret'))
    expect(existsSync(`${dir}/admin-token`)).toBe(false)
    expect(await storedRows()).toEqual([])
  })

  test('without one, a token is generated once: its hash in the database, the secret in admin-token (0600), printed only then', async () => {
    const logs = captureLogs()
    const printed = () => logs.lines.filter((line) => JSON.stringify(line).includes('admin_token'))
    try {
      const hash = await adminTokenHash(database.db, undefined, dir)
      const file = `${dir}/admin-token`
      const token = readFileSync(file, 'utf8').trim()
      expect(token).toMatch(/^jsa_[A-Za-z0-9_-]{43}$/)
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(hash).toBe(sha256Hex(token))
      // Only the hash is stored: the secret appears nowhere in the row.
      expect(await storedRows()).toEqual([{ name: 'admin_token_sha256', value: hash }])
      expect(printed()).toHaveLength(1)
      expect(printed()[0]!.admin_token).toBe(token)

      // A restart, or another replica with another data dir, uses the stored hash and prints nothing.
      const other = mkdtempSync(`${tmpdir()}/juststorage-admin-token-`)
      expect(await adminTokenHash(database.db, undefined, dir)).toBe(hash)
      expect(await adminTokenHash(database.db, '', other)).toBe(hash)
      expect(existsSync(`${other}/admin-token`)).toBe(false)
      rmSync(other, { recursive: true, force: true })
      expect(printed()).toHaveLength(1)
    } finally {
      configureLog('silent')
    }
  })

  test('the data dir is created when it does not exist yet', async () => {
    configureLog('silent')
    const hash = await adminTokenHash(database.db, undefined, `${dir}/not/yet`)
    expect(sha256Hex(readFileSync(`${dir}/not/yet/admin-token`, 'utf8').trim())).toBe(hash)
  })
})

describe('secretsEqual', () => {
  test.each([
    ['same', 'same', true],
    ['jsa_abc', 'jsa_abc', true],
    ['', '', true],
    ['jsa_abc', 'jsa_abd', false],
    ['jsa_abc', 'jsa_ab', false],
    ['jsa_ab', 'jsa_abc', false],
    ['', 'jsa_abc', false],
    ['JSA_ABC', 'jsa_abc', false],
    ['ü', 'u', false],
  ])('%p vs %p → %p', (given, expected, equal) => {
    expect(secretsEqual(given, expected)).toBe(equal)
  })
})

describe('presentedSecret', () => {
  test.each([
    [{ authorization: 'Bearer tok' }, 'tok'],
    [{ authorization: 'bearer tok' }, 'tok'],
    [{ authorization: 'BEARER   tok  ' }, 'tok'],
    [{ 'x-api-key': 'key-1' }, 'key-1'],
    [{}, null],
    [{ authorization: 'Bearer' }, null],
    [{ authorization: 'Bearer ' }, null],
    [{ authorization: 'Bearer two words' }, null],
    [{ authorization: 'Basic dXNlcjpwYXNz' }, null],
    [{ authorization: 'tok' }, null],
    [{ 'x-api-key': '' }, null],
  ])('%p → %p', (headers, secret) => {
    expect(presentedSecret(new Headers(headers))).toBe(secret)
  })

  test('a malformed Authorization header is not overridden by X-API-Key', () => {
    expect(presentedSecret(new Headers({ authorization: 'Basic x', 'x-api-key': 'key-1' }))).toBeNull()
  })

  test('Authorization wins over X-API-Key when both are given', () => {
    expect(presentedSecret(new Headers({ authorization: 'Bearer tok', 'x-api-key': 'key-1' }))).toBe('tok')
  })
})
