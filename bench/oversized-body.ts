/**
 * Peak server RSS while a client sends a large body to routes that are not
 * uploads: POST /v1/objects/search with Content-Length, the same chunked, and
 * a chunked body to a route that reads none. BODY_MIB (default 400) sets the
 * size. Prints a Markdown table. The server runs as a child process
 * (`bun main.ts`) on a throwaway PostgreSQL cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { startPostgres } from '../tests/support/postgres'
import { rssMiB, withPeakRss } from './rss'

const mib = 2 ** 20
const bodyBytes = Number(process.env.BODY_MIB ?? 400) * mib

const cluster = await startPostgres()
const dataDir = mkdtempSync(`${tmpdir()}/juststorage-oversized-`)
const port = 20000 + Math.floor(Math.random() * 20000)
const adminToken = `bench-${crypto.randomUUID()}`
const server = Bun.spawn([process.execPath, 'main.ts'], {
  env: { ...process.env, ADMIN_TOKEN: adminToken, DATA_DIR: dataDir, LISTEN_ADDR: `127.0.0.1:${port}`, LOG_LEVEL: 'warn', DATABASE_URL: await cluster.createDatabase('oversized') },
  stdout: 'ignore',
  stderr: 'inherit',
})
const base = `http://127.0.0.1:${port}`
const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }

/** A search whose content_type filter is `bytes` long, generated as it is sent. */
function searchBody(bytes: number): ReadableStream<Uint8Array> {
  const head = new TextEncoder().encode('{"namespace":"n","tenant_id":"t","content_type":"')
  const tail = new TextEncoder().encode('"}')
  const filler = new Uint8Array(mib).fill(0x78)
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent === 0) controller.enqueue(head)
      const left = bytes - head.byteLength - tail.byteLength - sent
      if (left <= 0) {
        controller.enqueue(tail)
        return controller.close()
      }
      const block = filler.subarray(0, Math.min(mib, left))
      sent += block.byteLength
      controller.enqueue(block)
    },
  })
}

async function send(path: string, declared: boolean): Promise<string> {
  try {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: declared ? { ...headers, 'content-length': String(bodyBytes) } : headers,
      body: searchBody(bodyBytes),
      duplex: 'half',
    } as RequestInit)
    const answer = (await response.json().catch(() => ({}))) as { code?: string }
    return `${response.status}${answer.code ? ` ${answer.code}` : ''}`
  } catch (error) {
    return `client error: ${(error as Error).message}`
  }
}

try {
  for (let i = 0; i < 300 && !(await fetch(`${base}/health/ready`).then((r) => r.ok, () => false)); i++) await Bun.sleep(100)
  const phases: [string, string, boolean][] = [
    ['search, Content-Length', '/v1/objects/search', true],
    ['search, chunked', '/v1/objects/search', false],
    ['admin gc (reads no body), chunked', '/v1/admin/gc', false],
  ]
  console.log(`| phase (${bodyBytes / mib} MiB body) | answer | seconds | server RSS before (MiB) | peak server RSS (MiB) |`)
  console.log('|---|---|---|---|---|')
  for (const [name, path, declared] of phases) {
    const before = rssMiB(server.pid)
    const started = performance.now()
    const { result, peakRssMiB } = await withPeakRss(server.pid, () => send(path, declared))
    console.log(`| ${name} | ${result} | ${((performance.now() - started) / 1000).toFixed(1)} | ${before.toFixed(0)} | ${peakRssMiB.toFixed(0)} |`)
  }
} finally {
  server.kill()
  await server.exited
  await cluster.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
