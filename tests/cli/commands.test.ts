import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { freePort, repoRoot } from '../support/child'
import { adminToken } from '../support/server'
import { type CliFixture, errorLinePattern, jsonLines, runCli, runCliInTerminal, startCliFixture, succeeded } from './cli'

let fixture: CliFixture
beforeAll(async () => {
  fixture = await startCliFixture()
  // A small tree to list: keys with and without '/'.
  const seed = join(fixture.work, 'seed')
  for (const key of ['a.txt', 'dir/b.txt', 'dir/sub/c.txt', 'dir/sub/d.txt', 'other/e.txt']) {
    mkdirSync(join(seed, key, '..'), { recursive: true })
    writeFileSync(join(seed, key), `content of ${key}\n`)
  }
  succeeded(await runCli(['cp', '-r', seed, 'js://listing', '--quiet'], fixture.env))
})
afterAll(() => fixture.stop())

/** The CLI as the admin token, naming tenant acme where it must. */
const asAdmin = () => ({ ...fixture.env, JUSTSTORAGE_TOKEN: adminToken })

describe('login', () => {
  test('stores endpoint and credential in a 0600 config file that later commands use', async () => {
    const config = join(fixture.work, 'login', 'config.json')
    const env = { JUSTSTORAGE_CONFIG: config }
    const run = succeeded(await runCli(['login', fixture.server.url, '--token', fixture.token], env))
    expect(run.stderr).toContain('as tenant acme')
    expect(statSync(config).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({ url: fixture.server.url, token: fixture.token })
    expect(succeeded(await runCli(['ls', 'js://listing/'], env)).stdout).toBe('a.txt\ndir/\nother/\n')
    // The environment wins over the file.
    expect((await runCli(['ls', 'js://listing/'], { ...env, JUSTSTORAGE_TOKEN: 'jsk_wrong' })).code).toBe(5)
  })

  test('reads the token from stdin, under XDG_CONFIG_HOME, and keeps a tenant for the admin token', async () => {
    const xdg = join(fixture.work, 'xdg')
    succeeded(await runCli(['login', fixture.server.url, '--tenant', 'acme'], { XDG_CONFIG_HOME: xdg }, `${adminToken}\n`))
    const config = join(xdg, 'juststorage', 'config.json')
    expect(statSync(config).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({ url: fixture.server.url, token: adminToken, tenant: 'acme' })
    expect(succeeded(await runCli(['ls', 'js://listing/dir/'], { XDG_CONFIG_HOME: xdg })).stdout).toBe('b.txt\nsub/\n')
  })

  test('refuses a credential the service refuses, and stores nothing', async () => {
    const config = join(fixture.work, 'refused', 'config.json')
    const run = await runCli(['login', fixture.server.url, '--token', 'jsk_not_a_key'], { JUSTSTORAGE_CONFIG: config })
    expect(run.code).toBe(5)
    expect(run.stderr).toMatch(errorLinePattern('unauthenticated'))
    expect(existsSync(config)).toBe(false)
  })
})

describe('ls and stat', () => {
  test('ls shows keys below the prefix with folders split on /', async () => {
    expect(succeeded(await runCli(['ls', 'js://listing'], fixture.env)).stdout).toBe('a.txt\ndir/\nother/\n')
    expect(succeeded(await runCli(['ls', 'js://listing/dir/'], fixture.env)).stdout).toBe('b.txt\nsub/\n')
    expect(succeeded(await runCli(['ls', 'js://listing/dir/sub/'], fixture.env)).stdout).toBe('c.txt\nd.txt\n')
    // A partial last segment filters within its folder.
    expect(succeeded(await runCli(['ls', 'js://listing/dir/s'], fixture.env)).stdout).toBe('sub/\n')
  })

  test('npx juststorage, from the checkout, runs the package bin', async () => {
    const proc = Bun.spawn(['npx', '--no-install', 'juststorage', 'ls', 'js://listing'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: join(fixture.work, 'npx-home'), npm_config_update_notifier: 'false', ...fixture.env },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    expect({ code, stdout, stderr }).toEqual({ code: 0, stdout: 'a.txt\ndir/\nother/\n', stderr: '' })
  })

  test('ls -l adds size, date and hash; --json gives the object JSON', async () => {
    const long = succeeded(await runCli(['ls', '-l', 'js://listing/dir/'], fixture.env)).stdout.trimEnd().split('\n')
    expect(long[0]).toMatch(/^ +21 {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z {2}sha256:[0-9a-f]{64} {2}b\.txt$/)
    expect(long[1]).toMatch(/^ +50 {2}2 objects +- +sub\/$/)
    const json = jsonLines(succeeded(await runCli(['ls', '--json', 'js://listing/dir/'], fixture.env)).stdout)
    expect(json).toEqual([expect.objectContaining({ key: 'dir/b.txt', size_bytes: 21, tenant_id: 'acme' }), { prefix: 'dir/sub/', objects: 2, size_bytes: 50 }])
  })

  test('stat prints the object JSON of exactly that key', async () => {
    const object = JSON.parse(succeeded(await runCli(['stat', 'js://listing/dir/sub/c.txt'], fixture.env)).stdout)
    expect(object).toMatchObject({ key: 'dir/sub/c.txt', namespace: 'listing', tenant_id: 'acme', status: 'COMMITTED', size_bytes: 25, content_hash: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) })
    const missing = await runCli(['stat', 'js://listing/dir/sub'], fixture.env)
    expect(missing.code).toBe(3)
    expect(missing.stderr).toBe('juststorage: js://listing/dir/sub: no such object (not_found)\n')
  })
})

describe('rm', () => {
  test('rm deletes one key; again it is not found', async () => {
    writeFileSync(join(fixture.work, 'gone.txt'), 'gone\n')
    succeeded(await runCli(['cp', join(fixture.work, 'gone.txt'), 'js://removal/gone.txt', '--quiet'], fixture.env))
    expect(succeeded(await runCli(['rm', 'js://removal/gone.txt'], fixture.env)).stdout).toBe('deleted js://removal/gone.txt\n')
    const again = await runCli(['rm', 'js://removal/gone.txt'], fixture.env)
    expect(again.code).toBe(3)
    expect(again.stderr).toMatch(errorLinePattern('not_found'))
  })

  test('rm -r deletes a prefix; past ten objects it refuses without a terminal unless --yes', async () => {
    const many = join(fixture.work, 'many')
    mkdirSync(many)
    for (let i = 0; i < 12; i++) writeFileSync(join(many, `${i}.txt`), `object ${i}\n`)
    succeeded(await runCli(['cp', '-r', many, 'js://removal/many', '--quiet'], fixture.env))
    succeeded(await runCli(['cp', join(many, '0.txt'), 'js://removal/manyother.txt', '--quiet'], fixture.env))
    const refused = await runCli(['rm', '-r', 'js://removal/many'], fixture.env)
    expect(refused.code).toBe(2)
    expect(refused.stderr).toBe('juststorage: refusing to delete 12 objects under js://removal/many/ without --yes (usage)\n')
    expect(succeeded(await runCli(['ls', 'js://removal/many/'], fixture.env)).stdout.split('\n').filter(Boolean)).toHaveLength(12)

    const removed = succeeded(await runCli(['rm', '-r', '--yes', 'js://removal/many', '--json'], fixture.env))
    expect(jsonLines(removed.stdout)).toHaveLength(12)
    expect(succeeded(await runCli(['ls', 'js://removal/'], fixture.env)).stdout).toBe('manyother.txt\n')
    // On a terminal it asks; anything but yes keeps everything.
    succeeded(await runCli(['cp', '-r', many, 'js://removal/asked', '--quiet'], fixture.env))
    succeeded(await runCli(['rm', 'js://removal/asked/11.txt'], fixture.env))
    const declined = await runCliInTerminal(['rm', '-r', 'js://removal/asked/'], fixture.env, 'n\n')
    expect(declined.code).toBe(2)
    expect(declined.stdout).toContain('Delete 11 objects under js://removal/asked/? [y/N]')
    expect(declined.stdout).toContain('juststorage: not confirmed; nothing deleted (usage)')
    const confirmed = succeeded(await runCliInTerminal(['rm', '-r', 'js://removal/asked/'], fixture.env, 'y\n'))
    expect(confirmed.stdout.match(/deleted js:\/\/removal\/asked\//g)).toHaveLength(11)

    // Ten or fewer need no confirmation.
    expect(succeeded(await runCli(['rm', '-r', 'js://removal/'], fixture.env)).stdout).toBe('deleted js://removal/manyother.txt\n')
  })
})

describe('presign, usage, keys, admin', () => {
  test('presign gives a URL that reads, or uploads, without a credential', async () => {
    const get = succeeded(await runCli(['presign', 'js://listing/a.txt'], fixture.env)).stdout.trim()
    expect(get).toStartWith(`${fixture.server.url}/`)
    expect(await (await fetch(get)).text()).toBe('content of a.txt\n')
    const put = JSON.parse(succeeded(await runCli(['presign', 'js://listing/put.txt', '--method', 'PUT', '--expires', '60', '--json'], fixture.env)).stdout)
    // A copy: Bun's toMatchObject writes its asymmetric matchers into the object it checks.
    expect(structuredClone(put)).toMatchObject({ method: 'PUT', url: expect.stringContaining('presign_signature=') })
    expect((await fetch(put.url, { method: 'PUT', body: 'put through a presigned URL' })).status).toBe(201)
    expect(JSON.parse(succeeded(await runCli(['stat', 'js://listing/put.txt'], fixture.env)).stdout).size_bytes).toBe(27)
    expect((await runCli(['presign', 'js://listing/a.txt', '--method', 'POST'], fixture.env)).code).toBe(2)
  })

  test('usage reports the tenant totals and namespaces', async () => {
    const human = succeeded(await runCli(['usage'], fixture.env)).stdout
    expect(human).toMatch(/^tenant acme: \d+ objects, .+ logical, .+ physical\n/)
    expect(human).toMatch(/^listing +hot +\d+ /m)
    const json = JSON.parse(succeeded(await runCli(['usage', '--json'], fixture.env)).stdout)
    expect(json).toMatchObject({ tenant_id: 'acme', by_namespace: expect.arrayContaining([expect.objectContaining({ namespace: 'listing', storage_class: 'hot' })]) })
  })

  test('keys create, ls and revoke', async () => {
    const created = JSON.parse(
      succeeded(await runCli(['keys', 'create', '--name', 'reader', '--permissions', 'objects:read', '--namespaces', 'listing', '--json'], fixture.env)).stdout,
    )
    expect(structuredClone(created)).toMatchObject({ name: 'reader', tenant_id: 'acme', permissions: ['objects:read'], namespaces: ['listing'], key: expect.stringMatching(/^jsk_/) })
    const reader = { ...fixture.env, JUSTSTORAGE_TOKEN: created.key }
    expect(succeeded(await runCli(['ls', 'js://listing/dir/sub/'], reader)).stdout).toBe('c.txt\nd.txt\n')
    expect((await runCli(['ls', 'js://elsewhere/'], reader)).code).toBe(5)

    const listed = succeeded(await runCli(['keys', 'ls'], fixture.env)).stdout
    expect(listed).toMatch(/^ID +NAME +TENANT +PERMISSIONS/)
    expect(listed).toContain(`${created.id}  reader`)
    expect(jsonLines(succeeded(await runCli(['keys', 'ls', '--json'], fixture.env)).stdout).map((key) => key.name)).toContain('reader')

    expect(succeeded(await runCli(['keys', 'revoke', created.id], fixture.env)).stdout).toBe(`revoked ${created.id}\n`)
    const revoked = await runCli(['ls', 'js://listing/'], reader)
    expect(revoked.code).toBe(5)
    expect(revoked.stderr).toMatch(errorLinePattern('unauthenticated'))
    expect((await runCli(['keys', 'create', '--name', 'x'], fixture.env)).code).toBe(2)
  })

  test('admin gc, scrub, lifecycle and status with the admin token; an API key without admin is refused', async () => {
    const gc = JSON.parse(succeeded(await runCli(['admin', 'gc', '--json'], asAdmin())).stdout)
    expect(gc).toMatchObject({ deleted_blobs: expect.any(Number), reclaimed_bytes: expect.any(Number) })
    const scrub = JSON.parse(succeeded(await runCli(['admin', 'scrub', '--json'], asAdmin())).stdout)
    expect(scrub).toMatchObject({ checked: expect.any(Number), corrupt: [] })
    const lifecycle = JSON.parse(succeeded(await runCli(['admin', 'lifecycle', '--json'], asAdmin())).stdout)
    expect(lifecycle).toMatchObject({ expired: expect.any(Number), pruned_versions: expect.any(Number), moved_to_cold: expect.any(Number) })
    const status = JSON.parse(succeeded(await runCli(['admin', 'status'], asAdmin())).stdout)
    expect(typeof status).toBe('object')
    const refused = await runCli(['admin', 'gc'], fixture.env)
    expect(refused.code).toBe(5)
    expect(refused.stderr).toMatch(errorLinePattern('forbidden'))
  })

  test('the admin token names its tenant with --tenant or JUSTSTORAGE_TENANT', async () => {
    const target = join(fixture.work, 'admin-a.txt')
    succeeded(await runCli(['cp', 'js://listing/a.txt', target, '--tenant', 'acme', '--quiet'], asAdmin()))
    expect(readFileSync(target, 'utf8')).toBe('content of a.txt\n')
    expect(succeeded(await runCli(['ls', 'js://listing/other/'], { ...asAdmin(), JUSTSTORAGE_TENANT: 'acme' })).stdout).toBe('e.txt\n')
    writeFileSync(target, 'uploaded by the admin\n')
    succeeded(await runCli(['cp', target, 'js://listing/by-admin.txt', '--tenant', 'acme', '--quiet'], asAdmin()))
    expect(JSON.parse(succeeded(await runCli(['stat', 'js://listing/by-admin.txt'], fixture.env)).stdout)).toMatchObject({ tenant_id: 'acme', size_bytes: 22 })
    const none = await runCli(['cp', 'js://listing/a.txt', target], asAdmin())
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('pass --tenant or set JUSTSTORAGE_TENANT')
  })
})

describe('errors: one line and an exit status per kind', () => {
  test('not found → 3', async () => {
    const run = await runCli(['cp', 'js://listing/missing.txt', join(fixture.work, 'missing.txt')], fixture.env)
    expect(run.code).toBe(3)
    expect(run.stderr.split('\n').at(-2)).toMatch(/^juststorage: js:\/\/listing\/missing\.txt: .+ \(not_found, request [A-Za-z0-9._:-]+\)$/)
  })

  test('conflict → 4 (cp -n onto a key that is held)', async () => {
    const file = join(fixture.work, 'conflict.txt')
    writeFileSync(file, 'not the same\n')
    const run = await runCli(['cp', '-n', file, 'js://listing/a.txt', '--quiet'], fixture.env)
    expect(run.code).toBe(4)
    expect(run.stderr).toMatch(errorLinePattern('key_exists'))
  })

  test('bad token → 5', async () => {
    const run = await runCli(['ls', 'js://listing/'], { ...fixture.env, JUSTSTORAGE_TOKEN: 'jsk_bad' })
    expect(run.code).toBe(5)
    expect(run.stderr).toMatch(errorLinePattern('unauthenticated'))
  })

  test('server down → 6', async () => {
    const url = `http://127.0.0.1:${await freePort()}`
    const run = await runCli(['ls', 'js://listing/'], { ...fixture.env, JUSTSTORAGE_URL: url })
    expect(run.code).toBe(6)
    expect(run.stderr).toBe(`juststorage: cannot reach ${url}: connection refused (network)\n`)
  })

  test('bad usage → 2', async () => {
    for (const args of [['cp', 'only-one'], ['ls', '--no-such-option', 'js://listing/'], ['frobnicate'], ['stat', 'not-a-location'], ['cp', '/etc', 'js://listing/etc']]) {
      const run = await runCli(args, fixture.env)
      expect([args, run.code]).toEqual([args, 2])
      expect(run.stderr).toMatch(/^juststorage: .+ \(usage\)\n$/)
    }
    expect((await runCli([], fixture.env)).code).toBe(2)
  })

  test('runs as the package bin: the script itself (shebang) and `npm exec juststorage` from the checkout', async () => {
    const pathWithBun = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`
    const direct = Bun.spawn([join(repoRoot, 'cli', 'main.ts'), 'help'], { cwd: repoRoot, env: { PATH: pathWithBun, HOME: fixture.work }, stdout: 'pipe' })
    expect([await direct.exited, await new Response(direct.stdout).text()]).toEqual([0, expect.stringContaining('usage: juststorage <command>')])
    // --offline --no: the checkout's own bin, never a package of that name from the registry.
    const viaNpm = Bun.spawn(['npm', 'exec', '--offline', '--no', '--', 'juststorage', 'ls', 'js://listing/other/'], { cwd: repoRoot, env: { PATH: pathWithBun, HOME: fixture.work, ...fixture.env }, stdout: 'pipe', stderr: 'pipe' })
    expect([await viaNpm.exited, await new Response(viaNpm.stdout).text()]).toEqual([0, 'e.txt\n'])
    expect(succeeded(await runCli(['help'], fixture.env)).stdout).toContain('usage: juststorage <command>')
  })
})
