import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type CliFixture, jsonLines, randomFile, runCli, runCliInTerminal, sha256OfFile, spawnCli, startCliFixture, succeeded } from './cli'

const MiB = 2 ** 20

/** Files of this size and up go through a session in these tests; the default is 64 MiB, scaled down to keep the suite fast. */
const sessionOptions = ['--session-threshold', '8M', '--chunk-size', '8M']

let fixture: CliFixture
beforeAll(async () => {
  fixture = await startCliFixture()
})
afterAll(() => fixture.stop())

const usage = async () => (await (await fixture.api('/v1/usage')).json()) as { objects: number; logical_bytes: number; physical_bytes: number }

describe('cp uploads and downloads', () => {
  test('a file round-trips byte for byte, and its --json report says what was sent', async () => {
    const source = randomFile(join(fixture.work, 'one.bin'), 3)
    const up = succeeded(await runCli(['cp', source, 'js://roundtrip/dir/one.bin', '--json'], fixture.env))
    const [uploaded] = jsonLines(up.stdout)
    expect(uploaded).toMatchObject({ action: 'upload', status: 'ok', linked: false, bytes_sent: 3 * MiB, size: 3 * MiB, destination: 'js://roundtrip/dir/one.bin' })
    expect(uploaded!.content_hash).toBe(`sha256:${await sha256OfFile(source)}`)

    const target = join(fixture.work, 'one.out')
    const down = succeeded(await runCli(['cp', 'js://roundtrip/dir/one.bin', target, '--json'], fixture.env))
    expect(jsonLines(down.stdout)[0]).toMatchObject({ action: 'download', status: 'ok', bytes_received: 3 * MiB, content_hash: uploaded!.content_hash })
    expect(Buffer.compare(readFileSync(target), readFileSync(source))).toBe(0)
    expect(existsSync(`${target}.part`)).toBe(false)

    // Into a directory: the key's last part names the file.
    const directory = join(fixture.work, 'into')
    mkdirSync(directory)
    succeeded(await runCli(['cp', 'js://roundtrip/dir/one.bin', directory, '--quiet'], fixture.env))
    expect(Buffer.compare(readFileSync(join(directory, 'one.bin')), readFileSync(source))).toBe(0)
  })

  test('a second upload of the same bytes sends no body: the service links what it holds', async () => {
    const source = join(fixture.work, 'same.txt')
    writeFileSync(source, `the same bytes ${crypto.randomUUID()}\n`.repeat(1000))
    const size = statSync(source).size
    const before = await usage()
    const first = jsonLines((await runCli(['cp', source, 'js://dedup/first.txt', '--json'], fixture.env)).stdout)[0]
    const second = jsonLines((await runCli(['cp', source, 'js://dedup/second.txt', '--json'], fixture.env)).stdout)[0]
    expect(first).toMatchObject({ status: 'ok', linked: false, bytes_sent: size })
    expect(second).toMatchObject({ status: 'ok', linked: true, bytes_sent: 0 })
    const after = await usage()
    expect(Number(after.objects) - Number(before.objects)).toBe(2)
    expect(Number(after.logical_bytes) - Number(before.logical_bytes)).toBe(2 * size)
    expect(Number(after.physical_bytes) - Number(before.physical_bytes)).toBe(size)
    const listed = (await (await fixture.api('/v1/objects?namespace=dedup')).json()) as { objects: { key: string; content_hash: string }[] }
    expect(listed.objects.map((object) => object.key).sort()).toEqual(['first.txt', 'second.txt'])
    expect(new Set(listed.objects.map((object) => object.content_hash)).size).toBe(1)
  })

  test('-r uploads a directory under a key prefix and downloads it back byte for byte', async () => {
    const tree = join(fixture.work, 'tree')
    mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true })
    writeFileSync(join(tree, 'a.txt'), 'alpha\n')
    writeFileSync(join(tree, 'empty'), '')
    randomFile(join(tree, 'sub', 'b.bin'), 1)
    writeFileSync(join(tree, 'sub', 'deeper', 'c d.txt'), 'spaces and ünïcode\n')
    const up = succeeded(await runCli(['cp', '-r', tree, 'js://trees/backup', '--json'], fixture.env))
    expect(jsonLines(up.stdout).map((result) => [result.destination, result.status])).toEqual([
      ['js://trees/backup/a.txt', 'ok'],
      ['js://trees/backup/empty', 'ok'],
      ['js://trees/backup/sub/b.bin', 'ok'],
      ['js://trees/backup/sub/deeper/c d.txt', 'ok'],
    ])

    const out = join(fixture.work, 'tree-out')
    const down = succeeded(await runCli(['cp', '-r', 'js://trees/backup/', out, '--json'], fixture.env))
    expect(jsonLines(down.stdout)).toHaveLength(4)
    const files = (root: string) => (readdirSync(root, { recursive: true }) as string[]).filter((path) => statSync(join(root, path)).isFile()).sort()
    expect(files(out)).toEqual(files(tree))
    for (const path of files(tree)) expect(Buffer.compare(readFileSync(join(out, path)), readFileSync(join(tree, path)))).toBe(0)
  })

  // 96 MiB with an 8 MiB threshold stands in for files past the 64 MiB default; the rate limit makes "halfway" observable.
  test('a large upload killed halfway resumes its session on a re-run, sending less than half', async () => {
    const source = randomFile(join(fixture.work, 'large.bin'), 96)
    const size = 96 * MiB
    const destination = 'js://large/large.bin'
    const child = spawnCli(['cp', source, destination, ...sessionOptions, '--limit-rate', '32M', '--json'], fixture.env)
    let offset = 0
    const deadline = Date.now() + 30_000
    while (offset <= size / 2 && Date.now() < deadline && child.exitCode === null) {
      const sessions = (await (await fixture.api('/v1/uploads?namespace=large')).json()) as { uploads: { offset: number }[] }
      offset = Number(sessions.uploads[0]?.offset ?? 0)
      await Bun.sleep(25)
    }
    expect(child.exitCode).toBeNull()
    expect(offset).toBeGreaterThan(size / 2)
    child.kill('SIGKILL')
    await child.exited
    const state = JSON.parse(readFileSync(join(fixture.work, 'config', 'state.json'), 'utf8'))
    expect(Object.keys(state.uploads)).toHaveLength(1)
    expect((await fixture.api(`/v1/objects?namespace=large`).then((r) => r.json())).objects).toEqual([])

    const rerun = succeeded(await runCli(['cp', source, destination, ...sessionOptions, '--json'], fixture.env))
    const [result] = jsonLines(rerun.stdout)
    expect(result).toMatchObject({ status: 'ok', linked: false, size })
    expect(result!.resumed_from as number).toBeGreaterThan(size / 2)
    expect(result!.bytes_sent as number).toBeLessThan(size / 2)
    expect((result!.resumed_from as number) + (result!.bytes_sent as number)).toBe(size)
    expect(JSON.parse(readFileSync(join(fixture.work, 'config', 'state.json'), 'utf8')).uploads).toEqual({})
    expect(result!.content_hash).toBe(`sha256:${await sha256OfFile(source)}`)

    // The same large file again: linked, no session, no body.
    const again = jsonLines((await runCli(['cp', source, 'js://large/copy.bin', ...sessionOptions, '--json'], fixture.env)).stdout)[0]
    expect(again).toMatchObject({ status: 'ok', linked: true, bytes_sent: 0 })
  })

  test('a download killed partway resumes from its .part file and is verified', async () => {
    const source = join(fixture.work, 'large.bin')
    const size = 96 * MiB
    const target = join(fixture.work, 'large.out')
    const child = spawnCli(['cp', 'js://large/large.bin', target, '--limit-rate', '32M', '--json'], fixture.env)
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline && child.exitCode === null && !(existsSync(`${target}.part`) && statSync(`${target}.part`).size > size / 3)) await Bun.sleep(25)
    expect(child.exitCode).toBeNull()
    child.kill('SIGKILL')
    await child.exited
    const partial = statSync(`${target}.part`).size
    expect(partial).toBeGreaterThan(size / 3)
    expect(partial).toBeLessThan(size)

    const rerun = succeeded(await runCli(['cp', 'js://large/large.bin', target, '--json'], fixture.env))
    const [result] = jsonLines(rerun.stdout)
    expect(result).toMatchObject({ status: 'ok', size, resumed_from: partial, bytes_received: size - partial })
    expect(existsSync(`${target}.part`)).toBe(false)
    expect(await sha256OfFile(target)).toBe(await sha256OfFile(source))
  })
})

describe('progress', () => {
  test('on a terminal: one updating line with percent, rate and ETA, and a total for -r', async () => {
    const target = join(fixture.work, 'tty.out')
    const run = succeeded(await runCliInTerminal(['cp', 'js://large/large.bin', target, '--limit-rate', '64M'], fixture.env))
    const screens = run.stdout.split('\r')
    expect(screens.length).toBeGreaterThan(5)
    expect(run.stdout).toMatch(/receiving \d+\.\d MiB \/ 96\.0 MiB {2}\d+% {2}\d+\.\d MiB\/s {2}ETA \d+:\d\d/)
    expect(run.stdout).toContain('done js://large/large.bin')
    expect(await sha256OfFile(target)).toBe(await sha256OfFile(join(fixture.work, 'large.bin')))

    const tree = succeeded(await runCliInTerminal(['cp', '-r', join(fixture.work, 'tree'), 'js://trees/tty'], fixture.env))
    expect(tree.stdout).toMatch(/total \[4\/4\] {2}.+ {2}100%/)
  })

  test('without a terminal: a plain line as each file starts and ends; --quiet prints nothing', async () => {
    const run = succeeded(await runCli(['cp', '-r', join(fixture.work, 'tree'), 'js://trees/plain'], fixture.env))
    expect(run.stdout).toBe('')
    const lines = run.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(8)
    expect(lines[0]).toMatch(/^start .*tree\/a\.txt → js:\/\/trees\/plain\/a\.txt \(6 B\)$/)
    expect(lines[1]).toMatch(/^done .*tree\/a\.txt → js:\/\/trees\/plain\/a\.txt \(6 B, in \d+\.\ds, linked, no bytes sent\)$/)
    expect(run.stderr).not.toContain('\r')
    expect(run.stderr).not.toContain('\x1b[')

    const quiet = await runCli(['cp', '-r', join(fixture.work, 'tree'), 'js://trees/quiet', '--quiet'], fixture.env)
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', ''])
  })
})
