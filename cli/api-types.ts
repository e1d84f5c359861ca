#!/usr/bin/env bun
/**
 * Generates cli/api.d.ts from the service's OpenAPI document, the only
 * description of the API the CLI relies on. `bun run cli:types` starts a
 * throwaway service (embedded database, temporary data directory) and reads
 * its /openapi.json; `bun run cli:types -- <url>` reads a running one instead.
 * tests/cli/api-types.test.ts regenerates it and fails on any difference.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import openapiTS, { astToString } from 'openapi-typescript'

const banner = '// Generated from the service\'s /openapi.json by `bun run cli:types`; do not edit.\n'

/** The TypeScript declarations openapi-typescript makes of the document. */
export async function renderApiTypes(document: unknown): Promise<string> {
  return banner + astToString(await openapiTS(structuredClone(document) as never))
}

export const apiTypesPath = new URL('./api.d.ts', import.meta.url)

async function documentOf(url: string): Promise<unknown> {
  const response = await fetch(`${url.replace(/\/+$/, '')}/openapi.json`)
  if (!response.ok) throw new Error(`${url}/openapi.json answered ${response.status}`)
  return response.json()
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function documentOfThrowawayService(): Promise<unknown> {
  const dataDir = mkdtempSync(join(tmpdir(), 'juststorage-types-'))
  // Run as root, the embedded cluster belongs to the `postgres` user, which must enter the directory.
  chmodSync(dataDir, 0o755)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const service = Bun.spawn([process.execPath, 'main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, LISTEN_ADDR: `127.0.0.1:${port}`, ADMIN_TOKEN: `${crypto.randomUUID()}${crypto.randomUUID()}`, LOG_LEVEL: 'error', GC_INTERVAL_SECS: '3600' },
    stdout: 'inherit',
    stderr: 'inherit',
  })
  try {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (service.exitCode !== null) throw new Error(`the service exited (${service.exitCode}) before it served /openapi.json`)
      const document = await documentOf(url).catch(() => undefined)
      if (document !== undefined) return document
      await Bun.sleep(200)
    }
    throw new Error('the service did not serve /openapi.json within 60 s')
  } finally {
    service.kill('SIGTERM')
    await service.exited
    rmSync(dataDir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  const url = process.argv[2]
  const document = url === undefined ? await documentOfThrowawayService() : await documentOf(url)
  writeFileSync(apiTypesPath, await renderApiTypes(document))
  console.log(`wrote ${apiTypesPath.pathname}`)
}
