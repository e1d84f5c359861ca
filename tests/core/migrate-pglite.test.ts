import { afterAll, expect, test } from 'bun:test'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
import { connectPostgres } from '../../core/db/connect'
import { migrationsFolder } from '../../core/db/client'
import { embeddedDatabaseUrl } from '../../core/db/embedded'
import { blobPath } from '../../core/store/paths'
import { ensureParentDirectory } from '../../core/store/durable'
import { repoRoot, startChild, type Child } from '../support/child'
import { tempDir } from '../support/temp'

/**
 * A store of the earlier embedded default (PGlite in <data dir>/meta) moves
 * into the embedded PostgreSQL with `npm run migrate-pglite`, row for row:
 * the service then serves every object it held, by id and by key.
 */

const dataDir = tempDir('juststorage-migrate-')
let child: Child | undefined
afterAll(async () => {
  await child?.stop()
  rmSync(dataDir, { recursive: true, force: true })
})

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher('sha256').update(bytes).digest('hex')
const inline = new TextEncoder().encode('small, inline in the row')
const filed = crypto.getRandomValues(new Uint8Array(100_000))
// Microseconds the JavaScript Date could not carry: the copy must keep them.
const createdAt = '2026-03-04 05:06:07.123456+00'

async function makePgliteStore(): Promise<void> {
  const client = await PGlite.create(join(dataDir, 'meta'), { extensions: { pg_trgm } })
  try {
    await migrate(drizzle(client), { migrationsFolder })
    await client.query(`insert into blobs (storage_class, content_hash, size_bytes, ref_count, inline_data) values ('hot', $1, $2, 1, $3)`, [`sha256:${sha256(inline)}`, inline.byteLength, inline])
    await client.query(`insert into blobs (storage_class, content_hash, size_bytes, ref_count) values ('cold', $1, $2, 1)`, [`sha256:${sha256(filed)}`, filed.byteLength])
    const file = blobPath({ hot: join(dataDir, 'hot'), cold: join(dataDir, 'cold') }, 'cold', sha256(filed))
    ensureParentDirectory(file)
    await Bun.write(file, filed)
    await client.query(
      `insert into objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, metadata, created_at, updated_at) values
       ('00000000-0000-4000-8000-000000000001', 'docs', 'acme', 'notes/a b+c.txt', 'COMMITTED', 'hot', $1, $2, 'text/plain', '{"lang": "en", "tags": ["x"]}', $5, $5),
       ('00000000-0000-4000-8000-000000000002', 'models', 'acme', null, 'COMMITTED', 'cold', $3, $4, 'application/octet-stream', '{}', $5, $5),
       ('00000000-0000-4000-8000-000000000003', 'models', 'acme', 'gone', 'DELETED', 'cold', $3, $4, 'application/octet-stream', '{}', $5, $5)`,
      [`sha256:${sha256(inline)}`, inline.byteLength, `sha256:${sha256(filed)}`, filed.byteLength, createdAt],
    )
    await client.query(`insert into api_keys (id, name, tenant_id, secret_hash, permissions, namespaces, created_by) values
      ('00000000-0000-4000-8000-0000000000aa', 'ci', 'acme', 'hash', '{objects:read,objects:write}', '{docs}', 'admin-token')`)
    for (const action of ['key.create', 'object.delete']) await client.query(`insert into audit_events (actor, tenant_id, action, target) values ('admin-token', 'acme', $1, 'x')`, [action])
  } finally {
    await client.close()
  }
}

async function migrateStore(): Promise<{ code: number; output: string }> {
  const environment: Record<string, string | undefined> = { ...process.env, DATA_DIR: dataDir }
  delete environment.DATABASE_URL
  const proc = Bun.spawn(['npm', 'run', '--silent', 'migrate-pglite'], { cwd: repoRoot, env: environment, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, output: out + err }
}

test('npm run migrate-pglite copies every row, verified by counts and checksums, and the service then serves the old objects', async () => {
  await makePgliteStore()
  const migrated = await migrateStore()
  expect(migrated).toMatchObject({ code: 0 })
  expect(migrated.output).toMatch(/^objects: 3 rows, checksum -?\d+ on both sides$/m)
  expect(migrated.output).toMatch(/^blobs: 2 rows, checksum -?\d+ on both sides$/m)
  expect(migrated.output).toMatch(/^audit_events: 2 rows, checksum -?\d+ on both sides$/m)
  expect(migrated.output).toContain('migrated and verified')
  expect(existsSync(join(dataDir, 'meta'))).toBe(false)
  expect(readdirSync(dataDir).filter((name) => name.startsWith('meta.pglite-migrated-'))).toHaveLength(1)

  child = await startChild({ dataDir })
  const byKey = await fetch(`${child.url}/v1/objects/by-key/docs/acme/notes/a%20b%2Bc.txt`)
  expect(byKey.status).toBe(200)
  expect(new Uint8Array(await byKey.arrayBuffer())).toEqual(inline)
  expect(byKey.headers.get('content-type')).toStartWith('text/plain')
  const byId = await fetch(`${child.url}/v1/objects/00000000-0000-4000-8000-000000000002`)
  expect(byId.status).toBe(200)
  expect(sha256(new Uint8Array(await byId.arrayBuffer()))).toBe(sha256(filed))
  expect((await fetch(`${child.url}/v1/objects/00000000-0000-4000-8000-000000000003`)).status).toBe(404)

  const listed = await (await fetch(`${child.url}/v1/objects?namespace=docs&tenant_id=acme`)).json()
  expect(listed.objects.map((o: { key: string; metadata: unknown }) => [o.key, o.metadata])).toEqual([['notes/a b+c.txt', { lang: 'en', tags: ['x'] }]])

  const usage = await (await fetch(`${child.url}/v1/usage?tenant_id=acme`)).json()
  const stored = inline.byteLength + filed.byteLength
  expect(usage).toMatchObject({ objects: 2, logical_bytes: stored, physical_bytes: stored })

  // A delete is audited after the copied events: the identity continues past them.
  expect((await fetch(`${child.url}/v1/objects/00000000-0000-4000-8000-000000000001`, { method: 'DELETE' })).status).toBe(204)
  const sql = connectPostgres(embeddedDatabaseUrl(dataDir), { max: 1 })
  try {
    const [stamp] = await sql`select created_at::text as created_at from objects where id = '00000000-0000-4000-8000-000000000002'`
    expect(stamp).toEqual({ created_at: createdAt })
    const events = await sql`select id::int, action from audit_events order by id`
    expect(events.map((e) => [e.id, e.action])).toEqual([[1, 'key.create'], [2, 'object.delete'], [3, 'object.delete']])
    const [key] = await sql`select permissions, namespaces from api_keys`
    expect(key).toEqual({ permissions: ['objects:read', 'objects:write'], namespaces: ['docs'] })
  } finally {
    await sql.end()
  }
})

test('a second run finds no PGlite store and says so, changing nothing', async () => {
  await child?.stop()
  child = undefined
  const again = await migrateStore()
  expect(again.code).toBe(1)
  expect(again.output).toContain('holds no PGlite store: nothing to migrate')
})
