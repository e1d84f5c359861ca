/**
 * Checks the metadata database against the blob files while the service is
 * stopped. Exits 0 when consistent, 1 when not; with --repair it fixes what is
 * safe and exits 0 if nothing unrepairable remains.
 */
import { loadConfig, storageDirectories } from '../core/config'
import { openDatabase } from '../core/db/client'
import { ClusterError } from '../core/db/cluster'
import { DatabaseInUse } from '../core/db/presence'
import { checkConsistency, isClean, repair, type FsckReport } from '../core/fsck'

const config = loadConfig()
const { hot, cold } = storageDirectories(config)
if (hot === undefined || cold === undefined) {
  console.error('fsck: it checks storage classes kept on directories; a class on a bucket is checked by the scrubber (POST /v1/admin/scrub)')
  process.exit(2)
}
const roots = { hot, cold }
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, maxConnections: 2, presence: 'exclusive' }).catch((error) => {
  if (!(error instanceof ClusterError || error instanceof DatabaseInUse)) throw error
  console.error(`fsck: ${error.message}`)
  process.exit(1)
})
try {
  const report = await checkConsistency(database.db, roots)
  print(report)
  let clean = isClean(report)
  if (!clean && process.argv.includes('--repair')) {
    await repair(database.db, report)
    const after = await checkConsistency(database.db, roots)
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
    ['referenced blobs whose file is missing', report.missingFiles],
    ['blob files of the wrong size', report.wrongSizes],
    ['blob files with no row (orphans)', report.orphanFiles],
    ['temp files with no upload in progress', report.staleTempFiles],
    ['namespaces whose usage counters differ from their objects', report.wrongUsage],
  ]
  for (const [what, items] of problems) {
    console.info(`${items.length === 0 ? 'ok  ' : 'FAIL'} ${items.length} ${what}`)
    for (const item of items.slice(0, 20)) console.info(`       ${typeof item === 'string' ? item : JSON.stringify(item)}`)
  }
  console.info(isClean(report) ? 'consistent' : 'INCONSISTENT')
}
