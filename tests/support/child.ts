import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Subprocess } from 'bun'

/** The service as a separate process (`bun main.ts`), for tests that kill it. */

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** The admin token every child starts with. */
export const childAdminToken = 'test-admin-token-of-at-least-32-bytes'

export interface ChildOptions {
  /** PostgreSQL; unset means the embedded cluster under dataDir (see tempDir). */
  databaseUrl?: string
  dataDir: string
  env?: Record<string, string>
  /** How long to wait for /health/ready; 30 s unless told. */
  readyTimeoutMs?: number
}

export interface Child {
  url: string
  pid: number
  /** Everything the process wrote to stdout and stderr so far, to print on failure. */
  output(): string
  /** Sends the signal and waits for the process to exit; resolves to its exit code (null when killed). */
  kill(signal: NodeJS.Signals): Promise<number | null>
  /** Graceful stop (SIGTERM), escalating to SIGKILL if it does not exit in time. */
  stop(): Promise<void>
}

export async function startChild(options: ChildOptions): Promise<Child> {
  const port = await freePort()
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATA_DIR: options.dataDir,
    DATABASE_URL: options.databaseUrl,
    LISTEN_ADDR: `127.0.0.1:${port}`,
    ADMIN_TOKEN: childAdminToken,
    // These children prove durability, not access control: every request acts as admin.
    AUTH_DISABLED: 'true',
    // Background GC only when a test asks for it.
    GC_INTERVAL_SECS: '3600',
    ...options.env,
  }
  // An inherited DATABASE_URL must not turn an embedded child into one on a shared server.
  if (options.databaseUrl === undefined) delete env.DATABASE_URL
  const proc = Bun.spawn([process.execPath, 'main.ts'], {
    cwd: repoRoot,
    env,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let log = ''
  const drained = Promise.all([collect(proc.stdout, (text) => (log += text)), collect(proc.stderr, (text) => (log += text))])
  const url = `http://127.0.0.1:${port}`

  const kill = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
    await proc.exited
    await drained
    return proc.exitCode
  }
  const child: Child = {
    url,
    pid: proc.pid,
    output: () => log,
    kill,
    async stop() {
      proc.kill('SIGTERM')
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(10_000).then(() => false)])
      if (!exited) await kill('SIGKILL')
      await drained
    },
  }

  try {
    await waitUntilReady(proc, url, options.readyTimeoutMs ?? 30_000)
  } catch (error) {
    await kill('SIGKILL')
    throw new Error(`${(error as Error).message}\n--- child output ---\n${log}`)
  }
  return child
}

async function waitUntilReady(proc: Subprocess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the service exited (${proc.exitCode ?? proc.signalCode}) before it was ready`)
    try {
      const response = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2_000) })
      last = `${response.status} ${await response.text()}`
      if (response.status === 200) return
    } catch (error) {
      last = String((error as Error).message ?? error)
    }
    // Polling a port that is not yet listening: a short pause between attempts.
    await Bun.sleep(50)
  }
  throw new Error(`the service was not ready within ${timeoutMs} ms (last: ${last})`)
}

async function collect(stream: ReadableStream<Uint8Array>, append: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder()
  try {
    for await (const chunk of stream) append(decoder.decode(chunk, { stream: true }))
  } catch {
    // The pipe breaks when the process is killed; what was read is kept.
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * Runs one of the service's entry points (main.ts, scripts/fsck.ts) until it
 * exits by itself, as when it refuses to start: its exit code, or 'still
 * running' (then killed) past the bound, and what it printed. `env` goes over
 * this process's environment; an undefined value unsets a variable.
 */
export async function runToExit(script: string[], env: Record<string, string | undefined>, timeoutMs = 30_000): Promise<{ code: number | 'still running'; output: string }> {
  const environment: Record<string, string | undefined> = { ...process.env, ...env }
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete environment[name]
  const proc = Bun.spawn([process.execPath, ...script], { cwd: repoRoot, env: environment, stdout: 'pipe', stderr: 'pipe' })
  const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => 'still running' as const)])
  if (code === 'still running') proc.kill('SIGKILL')
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  return { code, output: out + err }
}
