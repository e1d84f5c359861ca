/**
 * Peak server RSS through one large streamed upload and many concurrent large
 * downloads, on PostgreSQL. Sizes in MiB from the environment:
 *   UPLOAD_MIB (default 4096), DOWNLOAD_MIB (1024), DOWNLOADS (16)
 * Prints a Markdown table. The server runs as a child process (`bun main.ts`).
 */
import { mkdtempSync, rmSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { startPostgres } from '../tests/support/postgres'

const mib = 2 ** 20
const uploadBytes = Number(process.env.UPLOAD_MIB ?? 4096) * mib
const downloadBytes = Number(process.env.DOWNLOAD_MIB ?? 1024) * mib
const downloads = Number(process.env.DOWNLOADS ?? 16)

const cluster = await startPostgres()
const dataDir = mkdtempSync(`${tmpdir()}/juststorage-rss-`)
const port = 20000 + Math.floor(Math.random() * 20000)
const adminToken = crypto.randomUUID()
const server = Bun.spawn([process.execPath, 'main.ts'], {
  env: { ...process.env, ADMIN_TOKEN: adminToken, DATA_DIR: dataDir, PORT: String(port), LISTEN_ADDR: `127.0.0.1:${port}`, DATABASE_URL: await cluster.createDatabase('rss') },
  stdout: 'ignore',
  stderr: 'inherit',
})
const base = `http://127.0.0.1:${port}`
const authorization = `Bearer ${adminToken}`

function rssMiB(): number {
  const status = readFileSync(`/proc/${server.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024
}

/** Runs a phase while sampling the server's RSS every 50 ms; returns the peak. */
async function peakDuring(phase: () => Promise<void>): Promise<{ peak: number; seconds: number }> {
  let peak = rssMiB()
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB())), 50)
  const started = performance.now()
  try {
    await phase()
  } finally {
    clearInterval(timer)
  }
  return { peak: Math.max(peak, rssMiB()), seconds: (performance.now() - started) / 1000 }
}

/** A generated body: distinct 1 MiB blocks, never held in memory whole. */
function generatedBody(bytes: number): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close()
      const block = new Uint8Array(Math.min(mib, bytes - sent))
      new DataView(block.buffer).setFloat64(0, sent)
      sent += block.byteLength
      controller.enqueue(block)
    },
  })
}

async function upload(bytes: number, key: string): Promise<string> {
  const response = await fetch(`${base}/v1/objects?namespace=bench&tenant_id=bench&key=${key}`, {
    method: 'POST',
    body: generatedBody(bytes),
    headers: { 'content-length': String(bytes), authorization },
    duplex: 'half',
  } as RequestInit)
  if (response.status !== 201) throw new Error(`upload failed: ${response.status} ${await response.text()}`)
  return ((await response.json()) as { id: string }).id
}

async function drain(url: string): Promise<number> {
  const response = await fetch(url, { headers: { authorization } })
  let total = 0
  for await (const chunk of response.body!) total += chunk.byteLength
  return total
}

try {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${base}/health/ready`).then((r) => r.ok, () => false)) break
    await Bun.sleep(100)
  }
  const idle = rssMiB()
  const big = await peakDuring(async () => void (await upload(uploadBytes, 'big')))
  const id = await upload(downloadBytes, 'download')
  const parallel = await peakDuring(async () => {
    const sizes = await Promise.all(Array.from({ length: downloads }, () => drain(`${base}/v1/objects/${id}?tenant_id=bench`)))
    if (sizes.some((n) => n !== downloadBytes)) throw new Error(`short download: ${sizes}`)
  })
  console.log('| phase | bytes | seconds | peak server RSS (MiB) |')
  console.log('|---|---|---|---|')
  console.log(`| idle | - | - | ${idle.toFixed(0)} |`)
  console.log(`| 1 upload | ${uploadBytes / mib} MiB | ${big.seconds.toFixed(1)} | ${big.peak.toFixed(0)} |`)
  console.log(`| ${downloads} concurrent downloads | ${downloads} × ${downloadBytes / mib} MiB | ${parallel.seconds.toFixed(1)} | ${parallel.peak.toFixed(0)} |`)
} finally {
  server.kill()
  await server.exited
  await cluster.stop()
  rmSync(dataDir, { recursive: true, force: true })
}
