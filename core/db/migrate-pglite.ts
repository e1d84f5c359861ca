import { existsSync, renameSync } from 'node:fs'
import { dirname } from 'node:path'
import { sql, type SQL } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
import { fsyncDirectory } from '../store/durable'
import { migrationsFolder, openEmbedded, type Db, type Tx } from './client'
import { ClusterError } from './cluster'
import { pgliteStoreDir } from './embedded'

/**
 * Moves a store of the earlier embedded default (PGlite in `<data dir>/meta`)
 * into the embedded PostgreSQL: both are brought to the current schema, every
 * table is copied in one transaction, and that transaction commits only when
 * each table's row count and checksum agree on both sides. The PGlite
 * directory is then renamed aside, kept until the operator deletes it. Blob
 * files stay where they are.
 */
export interface TableReport {
  table: string
  rows: number
  checksum: string
}

/** Heap pages per copied batch: a few hundred rows, inline bytes (up to 1 MiB each) included. */
const batchPages = 8

export async function migratePgliteStore(dataDir: string): Promise<{ tables: TableReport[]; keptAt: string }> {
  const meta = pgliteStoreDir(dataDir)
  if (!existsSync(`${meta}/PG_VERSION`)) throw new ClusterError(`${meta} holds no PGlite store: nothing to migrate`)
  const { PGlite, pg_trgm } = await loadPglite()
  // Brought to the current schema before the copy, whose search indexes need pg_trgm.
  const client = await PGlite.create(meta, { extensions: { pg_trgm } })
  try {
    const source = drizzle(client) as unknown as Db
    await migrate(drizzle(client), { migrationsFolder })
    const target = await openEmbedded(dataDir, 1)
    try {
      const tables = await copyStore(source, target.db)
      const keptAt = `${meta}.pglite-migrated-${new Date().toISOString().replace(/[:.]/g, '-')}`
      await client.close()
      renameSync(meta, keptAt)
      fsyncDirectory(dirname(meta))
      return { tables, keptAt }
    } finally {
      await target.close()
    }
  } finally {
    if (!client.closed) await client.close()
  }
}

async function loadPglite() {
  try {
    return { ...(await import('@electric-sql/pglite')), ...(await import('@electric-sql/pglite/contrib/pg_trgm')) }
  } catch {
    throw new ClusterError('reading a PGlite store needs the package @electric-sql/pglite: run npm ci (it is a development dependency) in a checkout of the service')
  }
}

async function copyStore(source: Db, target: Db): Promise<TableReport[]> {
  // Row text (the checksums) depends on these settings: both sides use the same.
  await source.execute(sql`set timezone = 'UTC'`)
  await source.execute(sql`set datestyle = 'ISO, MDY'`)
  const tables = rowsFrom<{ name: string }>(await target.execute(sql`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1`)).map((row) => row.name)
  const before: TableReport[] = []
  for (const table of tables) before.push(await tableReport(source, table))
  const matches = (reports: TableReport[]) => reports.every((report, i) => report.rows === before[i]!.rows && report.checksum === before[i]!.checksum)

  return target.transaction(async (tx) => {
    await tx.execute(sql`set local timezone = 'UTC'`)
    await tx.execute(sql`set local datestyle = 'ISO, MDY'`)
    const existing: TableReport[] = []
    for (const table of tables) existing.push(await tableReport(tx, table))
    // Copied and committed by an earlier run that stopped before renaming the PGlite directory.
    if (matches(existing) && before.some((report) => report.rows > 0)) return before
    const occupied = existing.filter((report) => report.rows > 0)
    if (occupied.length > 0) {
      throw new ClusterError(`the embedded PostgreSQL already holds data (${occupied.map((r) => `${r.table}: ${r.rows} rows`).join(', ')}); migrate into a data directory whose pg/ holds none`)
    }
    // The rows already held their constraints in the source; checking references row by row would demand an order of tables.
    await tx.execute(sql`set local session_replication_role = replica`)
    for (const table of tables) {
      const [size] = rowsFrom<{ pages: number }>(await source.execute(sql`select (pg_relation_size(${table}) / current_setting('block_size')::int)::int as pages`))
      for (let first = 0; first < size!.pages; first += batchPages) {
        const [batch] = rowsFrom<{ rows: string }>(
          await source.execute(sql`select coalesce(json_agg(t), '[]')::text as rows from ${sql.identifier(table)} t
            where ctid >= ${`(${first},0)`}::tid and ctid < ${`(${first + batchPages},0)`}::tid`),
        )
        await tx.execute(sql`insert into ${sql.identifier(table)} overriding system value
          select * from json_populate_recordset(null::${sql.identifier(table)}, ${batch!.rows}::json)`)
      }
    }
    // Identity columns continue after the copied values.
    const identities = rowsFrom<{ table: string; column: string }>(
      await tx.execute(sql`select table_name as table, column_name as column from information_schema.columns where table_schema = 'public' and is_identity = 'YES'`),
    )
    for (const { table, column } of identities) {
      await tx.execute(sql`select setval(pg_get_serial_sequence(${table}, ${column}), coalesce((select max(${sql.identifier(column)}) from ${sql.identifier(table)}), 0) + 1, false)`)
    }
    const after: TableReport[] = []
    for (const table of tables) after.push(await tableReport(tx, table))
    if (!matches(after)) {
      const differing = after.filter((report, i) => report.rows !== before[i]!.rows || report.checksum !== before[i]!.checksum)
      throw new ClusterError(`the copy does not match the PGlite store in ${differing.map((r) => r.table).join(', ')}; nothing was committed`)
    }
    // Counted anew from the copied objects: rows a store gained around commit_object (an import) are in no counter.
    await tx.execute(sql`select recount_usage()`)
    return after
  })
}

/** Row count and an order-independent checksum of every row's text. */
async function tableReport(db: Db | Tx, table: string): Promise<TableReport> {
  const query: SQL = sql`select count(*)::int as rows,
    coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text as checksum
    from ${sql.identifier(table)} t`
  const [row] = rowsFrom<{ rows: number; checksum: string }>(await db.execute(query))
  return { table, rows: Number(row!.rows), checksum: row!.checksum }
}

/** postgres.js answers rows as the result itself, PGlite as its `rows`. */
function rowsFrom<T>(result: unknown): T[] {
  return Array.isArray(result) ? (result as T[]) : (result as { rows: T[] }).rows
}
