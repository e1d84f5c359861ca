/**
 * Checks the metadata database against the blob stores while the service is
 * stopped. Exits 0 when consistent, 1 when not; with --repair it fixes what is
 * safe and exits 0 if nothing unrepairable remains.
 */
import { blobStoresOf } from '../app'
import { loadConfig } from '../core/config'
import { openDatabase } from '../core/db/client'
import { ClusterError } from '../core/db/cluster'
import { DatabaseInUse } from '../core/db/presence'
import { checkConsistency, isClean, repair, type FsckReport } from '../core/fsck'

const config = loadConfig()
const stores = blobStoresOf(config)
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, maxConnections: 2, presence: 'exclusive' }).catch((error) => {
  if (!(error instanceof ClusterError || error instanceof DatabaseInUse)) throw error
  console.error(`fsck: ${error.message}`)
  process.exit(1)
})
try {
  const report = await checkConsistency(database.db, stores)
  print(report)
  let clean = isClean(report)
  if (!clean && process.argv.includes('--repair')) {
    await repair(database.db, stores, report)
    const after = await checkConsistency(database.db, stores)
    console.info('after repair:')
    print(after)
    clean = isClean(after)
  }
  process.exitCode = clean ? 0 : 1
} finally {
  await database.close()
}

function print(report: FsckReport): void {
  console.info(`checked ${report.objectsChecked} committed objects and ${report.blobsChecked} blobs`)
  const problems: [string, unknown[]][] = [
    ['reference counts that differ from live references', report.wrongRefCounts],
    ['committed objects without a blob row', report.missingBlobRows],
    ['referenced blobs whose bytes are missing', report.missingFiles],
    ['stored blobs of the wrong size', report.wrongSizes],
    ['stored blobs with no row (orphans)', report.orphanBlobs],
    ['leftovers with no upload in progress (staged bytes, blobs taken out)', report.leftovers],
    ['namespaces whose usage counters differ from their objects', report.wrongUsage],
  ]
  for (const [what, items] of problems) {
    console.info(`${items.length === 0 ? 'ok  ' : 'FAIL'} ${items.length} ${what}`)
    for (const item of items.slice(0, 20)) console.info(`       ${typeof item === 'string' ? item : JSON.stringify(item)}`)
  }
  console.info(isClean(report) ? 'consistent' : 'INCONSISTENT')
}
