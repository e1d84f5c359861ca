/**
 * `npm run migrate-storage -- --class hot --to s3://<bucket>/<prefix>`: copies
 * the blobs of one storage class from its directory (the class's root as the
 * service's environment sets it) into a bucket (with the S3_* settings of that
 * environment), with the service stopped, and verifies every one there. Exits
 * 0 and prints the setting that switches the class once every blob is there;
 * 1 when a blob could not be copied or the run stopped (run it again: it goes
 * on where it stopped); 2 on wrong arguments or settings. Nothing is switched
 * and the source directory is left as it is.
 *
 * Options: --dry-run (count what there is to copy), --concurrency N (blobs in
 * flight, 4), --progress-every N (blobs between progress lines, 100).
 */
import { existsSync } from 'node:fs'
import { blobStoresOf } from '../app'
import { ConfigError, describeLocation, loadConfig, type Config } from '../core/config'
import { openDatabase } from '../core/db/client'
import { ClusterError } from '../core/db/cluster'
import { DatabaseInUse } from '../core/db/presence'
import type { StorageClass } from '../core/db/schema'
import { configureLog } from '../core/log'
import { migrateStorageClass, migrationComplete, type MigrationProgress } from '../core/store/migrate'
import { openSessionCount } from '../core/uploads/sessions'

const usage = 'usage: npm run migrate-storage -- --class hot|cold --to s3://<bucket>/<prefix> [--dry-run] [--concurrency N] [--progress-every N]'

function fail(message: string, code: number): never {
  console.error(`migrate-storage: ${message}`)
  process.exit(code)
}

/** Ends the run once the database is open: it is closed first (an embedded cluster is stopped). */
class Stop extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message)
  }
}

interface Arguments {
  storageClass: StorageClass
  to: string
  dryRun: boolean
  concurrency: number
  progressEvery: number
}

function parseArguments(argv: string[]): Arguments {
  const given: Partial<Arguments> = { dryRun: false, concurrency: 4, progressEvery: 100 }
  const count = (name: string, raw: string | undefined) => {
    if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < 1) fail(`${name} takes a whole number of at least 1\n${usage}`, 2)
    return Number(raw)
  }
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i]!
    if (argument === '--') continue
    const [name, inline] = argument.startsWith('--') && argument.includes('=') ? [argument.slice(0, argument.indexOf('=')), argument.slice(argument.indexOf('=') + 1)] : [argument, undefined]
    const value = () => inline ?? argv[++i]
    if (name === '--class') {
      const storageClass = value()
      if (storageClass !== 'hot' && storageClass !== 'cold') fail(`--class is hot or cold, not "${storageClass ?? ''}"\n${usage}`, 2)
      given.storageClass = storageClass
    } else if (name === '--to') given.to = value()
    else if (name === '--dry-run' && inline === undefined) given.dryRun = true
    else if (name === '--concurrency') given.concurrency = count(name, value())
    else if (name === '--progress-every') given.progressEvery = count(name, value())
    else fail(`unknown argument "${argument}"\n${usage}`, 2)
  }
  if (given.storageClass === undefined || given.to === undefined) fail(usage, 2)
  return given as Arguments
}

function configOf(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    fail(`invalid configuration: ${error.message}`, 2)
  }
}

const MiB = 2 ** 20
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`
const blobCount = (n: number) => `${n} blob${n === 1 ? '' : 's'}`

function progressLine(p: MigrationProgress): string {
  const rate = p.seconds > 0 ? ` (${mib(p.bytesCopied / p.seconds)}/s)` : ''
  return `${p.done}/${p.total} blobs: copied ${p.copied}, already there ${p.alreadyThere}, failed ${p.failed}; ${mib(p.bytesCopied)} copied in ${p.seconds.toFixed(1)} s${rate}`
}

const args = parseArguments(process.argv.slice(2))
const variable = args.storageClass === 'hot' ? 'HOT_STORAGE_ROOT' : 'COLD_STORAGE_ROOT'
const config = configOf(process.env)
configureLog(config.logLevel)
const current = config.storage[args.storageClass]
if (current.kind !== 'directory') fail(`the ${args.storageClass} class is on ${describeLocation(current)} already (${variable}); this copies a class from a directory into a bucket`, 2)
if (!args.to.startsWith('s3://')) fail(`--to is a bucket, s3://<bucket>/<prefix>, not "${args.to}"`, 2)
// The service's configuration once switched: it checks the bucket's name, the S3_* settings and that the two classes stay apart.
const target = configOf({ ...process.env, [variable]: args.to })
const destinationLocation = describeLocation(target.storage[args.storageClass])

// The resident size, sampled: getrusage's peak would include the parent's memory at the fork before exec.
let peakRss = process.memoryUsage.rss()
setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 100).unref()

const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, maxConnections: 2, presence: 'exclusive' }).catch((error) => {
  if (!(error instanceof ClusterError || error instanceof DatabaseInUse)) throw error
  fail(error.message, 1)
})
// Interrupted, it stops at once: what is in flight is a leftover the service's GC removes, and a rerun goes on.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`migrate-storage: interrupted (${signal}); nothing was switched; run the command again to go on where it stopped`)
    void database.close().finally(() => process.exit(130))
  })
}
try {
  const source = blobStoresOf(config)[args.storageClass]
  const destination = blobStoresOf(target)[args.storageClass]
  console.info(`migrate-storage: the ${args.storageClass} class from ${source.location} to ${destinationLocation}${args.dryRun ? ' (dry run)' : ''}`)
  const unready = await destination.readiness()
  if (unready !== null) throw new Stop(`${destinationLocation}: ${unready}`, 1)
  if (!args.dryRun && !existsSync(source.location)) throw new Stop(`the source directory ${source.location} does not exist (${variable}, or DATA_DIR, as the service is started with?)`, 1)
  // A session's bytes are not blobs: they stay where they are, and the bucket would not know them.
  const sessions = await openSessionCount(database.db, args.storageClass)
  if (sessions > 0) throw new Stop(`${sessions} upload session${sessions === 1 ? ' is' : 's are'} open in the ${args.storageClass} class: complete or cancel ${sessions === 1 ? 'it' : 'them'} (or let ${sessions === 1 ? 'it' : 'them'} expire) first; nothing was copied`, 1)

  const report = await migrateStorageClass(
    database.db,
    source,
    destination,
    args.storageClass,
    { dryRun: args.dryRun, concurrency: args.concurrency, progressEvery: args.progressEvery },
    (progress) => console.info(`migrate-storage: ${progress.final ? 'done: ' : ''}${progressLine(progress)}`),
  ).catch((error) => {
    throw new Stop(`stopped: ${(error as Error)?.message ?? error}\nnothing was switched; run the command again to go on where it stopped`, 1)
  })
  const { strangers } = report
  if (strangers.count > 0) {
    console.warn(
      `migrate-storage: WARNING: ${destinationLocation} holds objects under blob names that are no blob of the ${args.storageClass} class: ${strangers.count} ` +
        `(${strangers.sample.join(', ')}${strangers.count > strangers.sample.length ? ', …' : ''}); they are left alone, but a service on it removes them as orphans after GC_GRACE_SECS. ` +
        'If that prefix is in use by another deployment, choose another.',
    )
  }
  const inline = `inline blobs, which stay in the database: ${report.inline} (${mib(report.inlineBytes)})`
  if (report.dryRun) {
    console.info(`migrate-storage: dry run: ${blobCount(report.total)} (${mib(report.totalBytes)}) to copy or verify; ${inline}; ${destinationLocation} answers`)
  } else {
    for (const failure of report.failures) console.error(`migrate-storage: FAILED ${failure.contentHash} (${failure.sizeBytes} bytes): ${failure.problem}`)
    if (report.goneUnreferenced.length > 0) {
      console.info(`migrate-storage: ${blobCount(report.goneUnreferenced.length)} without references and no longer at the source, left to garbage collection: ${report.goneUnreferenced.slice(0, 10).join(', ')}`)
    }
    if (report.replaced > 0) console.info(`migrate-storage: ${report.replaced} objects at the destination held other bytes than the blob they are named after (a wrong size or hash); they were removed before copying`)
    console.info(`migrate-storage: ${mib(report.bytesVerified)} read back from the destination and verified; ${inline}; peak memory ${mib(Math.max(peakRss, process.memoryUsage.rss()))}`)
    if (migrationComplete(report)) {
      console.info(`migrate-storage: every blob of the ${args.storageClass} class is at the destination and verified. Start the service with`)
      console.info(`${variable}=${destinationLocation}`)
      console.info(`migrate-storage: with the same S3_* settings as this run. ${source.location} is left as it was: delete it once the service serves from the bucket and you have checked it`)
    } else {
      console.error(`migrate-storage: ${blobCount(report.failures.length)} could not be copied; nothing was switched: keep ${variable} as it is, repair or restore ${report.failures.length === 1 ? 'that blob' : 'those blobs'} and run again`)
      process.exitCode = 1
    }
  }
} catch (error) {
  if (!(error instanceof Stop)) throw error
  console.error(`migrate-storage: ${error.message}`)
  process.exitCode = error.code
} finally {
  await database.close()
}
