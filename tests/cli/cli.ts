import { randomBytes } from 'node:crypto'
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { repoRoot } from '../support/child'
import { adminToken, startServer, type TestServer } from '../support/server'
import { tempDir } from '../support/temp'

/** The CLI against a real server with authentication on, as a user with an API key of tenant acme would run it. */
export interface CliFixture {
  server: TestServer
  /** An API key of tenant acme with every object permission and keys:manage. */
  token: string
  /** A scratch directory for files, the config and its state file. */
  work: string
  /** The environment the CLI runs with: the server, the key, a config path of its own. */
  env: Record<string, string>
  /** GET (or another method) on the service as that key. */
  api(path: string, init?: RequestInit): Promise<Response>
  stop(): Promise<void>
}

export const everyObjectPermission = ['objects:read', 'objects:write', 'objects:delete', 'keys:manage']

export async function startCliFixture(): Promise<CliFixture> {
  const server = await startServer('embedded', { auth: true })
  const created = await fetch(`${server.url}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'cli-test', tenant_id: 'acme', permissions: everyObjectPermission }),
  })
  if (created.status !== 201) throw new Error(`creating the test key: ${created.status} ${await created.text()}`)
  const { key: token } = (await created.json()) as { key: string }
  const work = tempDir('juststorage-cli-')
  const env = { JUSTSTORAGE_URL: server.url, JUSTSTORAGE_TOKEN: token, JUSTSTORAGE_CONFIG: join(work, 'config', 'config.json') }
  return {
    server,
    token,
    work,
    env,
    api: (path, init = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } }),
    async stop() {
      await server.stop()
      rmSync(work, { recursive: true, force: true })
    },
  }
}

export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/**
 * The environment of a CLI process: only what it is given, never this shell's
 * JUSTSTORAGE_*, and a HOME that does not exist, so a CLI that missed its
 * config path fails instead of writing to the real home.
 */
function processEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: '/nonexistent/juststorage-test-home', ...env }
}

/** Starts `bun cli/main.ts …`, for tests that kill it. */
export function spawnCli(args: string[], env: Record<string, string>, stdin?: string): Subprocess<'pipe', 'pipe', 'pipe'> {
  const proc = Bun.spawn([process.execPath, 'cli/main.ts', ...args], { cwd: repoRoot, env: processEnv(env), stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' })
  if (stdin !== undefined) proc.stdin.write(stdin)
  proc.stdin.end()
  return proc
}

/** Runs the CLI to its end: exit status and what it printed. */
export async function runCli(args: string[], env: Record<string, string>, stdin?: string): Promise<CliRun> {
  const proc = spawnCli(args, env, stdin)
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, stdout, stderr }
}

/** Runs the CLI under a pseudo-terminal (util-linux `script`), as a user at a terminal sees it. */
export async function runCliInTerminal(args: string[], env: Record<string, string>, typed?: string): Promise<CliRun> {
  const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`
  const command = [process.execPath, 'cli/main.ts', ...args].map(quote).join(' ')
  // -e: script exits with the CLI's status.
  const proc = Bun.spawn(['script', '-qefc', command, '/dev/null'], { cwd: repoRoot, env: processEnv(env), stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' })
  if (typed !== undefined) proc.stdin.write(typed)
  proc.stdin.end()
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, stdout, stderr }
}

/** The JSON objects of --json output, one a line. */
export const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)

/** A file of `mib` MiB of fresh random bytes, written a MiB at a time. */
export function randomFile(path: string, mib: number): string {
  const fd = openSync(path, 'w')
  for (let i = 0; i < mib; i++) writeSync(fd, randomBytes(2 ** 20))
  closeSync(fd)
  return path
}

/** The one line an error prints, with the code and the service's request id. */
export const errorLinePattern = (code: string) => new RegExp(`^juststorage: .+ \\(${code}, request [A-Za-z0-9._:-]+\\)\\n$`)

export async function sha256OfFile(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher('sha256')
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk)
  return hasher.digest('hex')
}

/** Fails with what the CLI printed unless it exited 0; returns the run. */
export function succeeded(run: CliRun): CliRun {
  if (run.code !== 0) throw new Error(`the CLI exited ${run.code}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`)
  return run
}
