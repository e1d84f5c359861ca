/** Child processes of the harness: bare servers, tools it needs, and disk flushes. */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, repoRoot } from '../tests/support/child'
import { authorization } from './credential'

export interface BareServer {
  url: string
  pid: number
  stop(): Promise<void>
}

/** Runs `bun bench/<script> <port> ...args` and waits for it to print "ready". */
export async function startBareServer(script: string, args: string[]): Promise<BareServer> {
  const port = await freePort()
  const proc = Bun.spawn([process.execPath, join(repoRoot, 'bench', script), String(port), ...args], { stdout: 'pipe', stderr: 'inherit' })
  const reader = proc.stdout.getReader()
  let said = ''
  while (!said.includes('ready')) {
    const { done, value } = await reader.read()
    if (done) throw new Error(`${script} exited before it was ready (${await proc.exited})`)
    said += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    async stop() {
      proc.kill('SIGTERM')
      await proc.exited
    },
  }
}

/** Runs a command to completion (with `env` over this process's environment); throws with its output when it fails. */
export async function run(command: string[], env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(command, { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, ...env } })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  if (code !== 0) throw new Error(`${command.join(' ')} exited with ${code}:\n${out}${err}`)
  return out
}

/**
 * Makes sure a command exists, installing its Debian package with apt-get when
 * it is missing and we are root or have sudo (as scripts/test.sh does for PostgreSQL).
 */
export function ensureTool(command: string, aptPackage: string): void {
  if (Bun.which(command)) return
  const root = process.getuid?.() === 0
  if ((!root && !Bun.which('sudo')) || !Bun.which('apt-get')) {
    throw new Error(`${command} is required and missing; install it (Debian/Ubuntu: apt-get install ${aptPackage})`)
  }
  const asRoot = (args: string[]) => (root ? args : ['sudo', '-n', ...args])
  console.error(`installing ${aptPackage} (${command} is missing)…`)
  for (const args of [['apt-get', 'update'], ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '--no-install-recommends', aptPackage]]) {
    const [cmd, ...rest] = asRoot(args)
    const result = spawnSync(cmd!, rest, { stdio: ['ignore', 'ignore', 'inherit'] })
    if (result.status !== 0) throw new Error(`${args.join(' ')} failed; install ${aptPackage} by hand`)
  }
  if (!Bun.which(command)) throw new Error(`${aptPackage} installed but ${command} is still not on PATH`)
}

/** Flushes dirty pages so one measurement does not pay for the writeback of the previous one. */
export function syncDisks(): void {
  spawnSync('sync')
}

/** Milliseconds the block devices have spent busy since boot (io_ticks of /proc/diskstats). */
function diskBusyMs(): number {
  return readFileSync('/proc/diskstats', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 14 && !/^(loop|ram|dm-)/.test(fields[2]!))
    .reduce((sum, fields) => sum + Number(fields[12]), 0)
}

/**
 * Flushes, then waits (up to maxSecs) until the disks are busy under a tenth of
 * the time: gigabytes just written and deleted keep the disk writing back and
 * discarding for a while, which would slow the next phase's fsyncs.
 */
export async function settleDisks(maxSecs: number): Promise<void> {
  syncDisks()
  const deadline = performance.now() + maxSecs * 1000
  for (let before = diskBusyMs(); performance.now() < deadline; ) {
    await Bun.sleep(500)
    const now = diskBusyMs()
    if (now - before < 50) return
    before = now
  }
}

export interface CurlDownload {
  status: number
  bytes: number
  seconds: number
}

/** One download drained to /dev/null by curl: the client that costs the least CPU per byte. */
export async function curlDownload(url: string): Promise<CurlDownload> {
  const out = await run(['curl', '-sS', '-o', '/dev/null', '-H', `Authorization: ${authorization()}`, '-w', '%{http_code} %{size_download} %{time_total}', url])
  const [status, bytes, seconds] = out.trim().split(' ').map(Number)
  return { status: status!, bytes: bytes!, seconds: seconds! }
}
