/**
 * `npm run migrate-pglite`: moves the store of the earlier embedded default
 * (PGlite in $DATA_DIR/meta) into the embedded PostgreSQL ($DATA_DIR/pg).
 * Run it with the service stopped and the service's environment.
 */
import { loadConfig } from '../core/config'
import { ClusterError } from '../core/db/cluster'
import { migratePgliteStore } from '../core/db/migrate-pglite'

const config = loadConfig()
if (config.databaseUrl) {
  console.error('migrate-pglite: DATABASE_URL is set; this moves a PGlite store into the embedded PostgreSQL, so unset it')
  process.exit(2)
}
try {
  const { tables, keptAt } = await migratePgliteStore(config.dataDir)
  for (const { table, rows, checksum } of tables) console.info(`${table}: ${rows} rows, checksum ${checksum} on both sides`)
  console.info(`migrated and verified; the PGlite store is kept at ${keptAt} (delete it once the service serves your objects)`)
} catch (error) {
  if (!(error instanceof ClusterError)) throw error
  console.error(`migrate-pglite: ${error.message}`)
  process.exit(1)
}
