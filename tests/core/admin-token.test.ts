import { afterEach, beforeEach, describe, expect, spyOn, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { presentedSecret, resolveAdminToken, secretsEqual } from '../../core/admin-token'

describe('resolveAdminToken', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(`${tmpdir()}/juststorage-admin-token-`)
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  test('a configured token is used as is and nothing is written', () => {
    expect(resolveAdminToken('configured-secret', dir)).toBe('configured-secret')
    expect(existsSync(`${dir}/admin-token`)).toBe(false)
  })

  test('without one, a token is generated once, kept in admin-token with mode 0600, and printed only then', () => {
    const info = spyOn(console, 'info').mockImplementation(() => {})
    try {
      const token = resolveAdminToken(undefined, dir)
      expect(token).toMatch(/^jsa_[A-Za-z0-9_-]{43}$/)
      const file = `${dir}/admin-token`
      expect(readFileSync(file, 'utf8').trim()).toBe(token)
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(info).toHaveBeenCalledTimes(1)
      expect(String(info.mock.calls[0]![0])).toContain(token)

      // A restart reads the same token back and does not print it again.
      expect(resolveAdminToken(undefined, dir)).toBe(token)
      expect(resolveAdminToken('', dir)).toBe(token)
      expect(info).toHaveBeenCalledTimes(1)
    } finally {
      info.mockRestore()
    }
  })

  test('two data dirs get different tokens', () => {
    const other = mkdtempSync(`${tmpdir()}/juststorage-admin-token-`)
    const info = spyOn(console, 'info').mockImplementation(() => {})
    try {
      expect(resolveAdminToken(undefined, dir)).not.toBe(resolveAdminToken(undefined, other))
    } finally {
      info.mockRestore()
      rmSync(other, { recursive: true, force: true })
    }
  })

  test('the data dir is created when it does not exist yet', () => {
    const info = spyOn(console, 'info').mockImplementation(() => {})
    try {
      const token = resolveAdminToken(undefined, `${dir}/not/yet`)
      expect(readFileSync(`${dir}/not/yet/admin-token`, 'utf8').trim()).toBe(token)
    } finally {
      info.mockRestore()
    }
  })

  test('an empty admin-token file (a crash while writing it) never yields an empty token', () => {
    writeFileSync(`${dir}/admin-token`, '', { mode: 0o600 })
    const info = spyOn(console, 'info').mockImplementation(() => {})
    try {
      const token = resolveAdminToken(undefined, dir)
      expect(token).toMatch(/^jsa_[A-Za-z0-9_-]{43}$/)
      expect(readFileSync(`${dir}/admin-token`, 'utf8').trim()).toBe(token)
      expect(resolveAdminToken(undefined, dir)).toBe(token)
    } finally {
      info.mockRestore()
    }
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
