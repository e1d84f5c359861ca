import { mkdirSync } from 'node:fs'
import { Cron } from 'croner'
import { assembleDeps, blobStoresOf, createApp, gcDeps, lifecycleDeps, scrubDeps, serveOptions } from './app'
import { scheduleGc } from './functions/gc'
import { metricsEndpoint } from './functions/metrics'
import { scheduleScrub } from './functions/scrub'
import { scheduleLifecycle } from './functions/lifecycle'
import { ConfigError, loadConfig, storageDirectories, type Config, type ListenAddress } from './core/config'
import { openDatabase } from './core/db/client'
import { ClusterError } from './core/db/cluster'
import { DatabaseInUse } from './core/db/presence'
import { ForeignBlobs, refuseForeignBlobs } from './core/foreign-blobs'
import { errorFields, log } from './core/log'
import { backgroundWorkSettled, tracked } from './core/jobs'
import { readFlushSecs } from './core/lifecycle/tiering'
import { refreshSharedStorageMetrics, storageWalkSlot } from './core/metrics'
import { tempDirectory } from './core/store/paths'

function configOrExit(): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    console.error(`juststorage: invalid configuration: ${error.message}`)
    process.exit(2)
  }
}

const config = configOrExit()
for (const root of Object.values(storageDirectories(config))) mkdirSync(tempDirectory(root), { recursive: true })
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, maxConnections: config.dbMaxConnections, statementTimeoutSecs: config.dbStatementTimeoutSecs }).catch((error) => {
  if (!(error instanceof ClusterError || error instanceof DatabaseInUse)) throw error
  console.error(`juststorage: ${error.message}`)
  process.exit(1)
})

await refuseForeignBlobs(database.db, blobStoresOf(config)).catch(async (error) => {
  if (!(error instanceof ForeignBlobs)) throw error
  console.error(`juststorage: ${error.message}`)
  await database.close()
  process.exit(1)
})

let draining = false
const deps = await assembleDeps(config, database, () => draining)
if (config.authDisabled) {
  log.warn({ msg: 'AUTH_DISABLED=true: EVERY REQUEST ACTS AS ADMIN. Never run this way outside a local experiment.' })
}
const gc = scheduleGc(gcDeps(deps), config.gcIntervalSecs)
const scrub = scheduleScrub(scrubDeps(deps), config.scrubCron)
const lifecycle = scheduleLifecycle(lifecycleDeps(deps), config.lifecycleIntervalSecs)
const app = createApp(deps, { ...gc.nextRuns, ...scrub.nextRuns, ...lifecycle.nextRuns })

async function listenOrExit(listen: () => void, { hostname, port }: ListenAddress): Promise<void> {
  try {
    listen()
  } catch (error) {
    console.error(`juststorage: cannot listen on ${hostname}:${port}: ${(error as Error).message}`)
    await database.close()
    process.exit(1)
  }
}
await listenOrExit(() => app.listen({ ...serveOptions, hostname: config.hostname, port: config.port }), config)
log.info({ msg: 'listening', address: `${config.hostname}:${app.server?.port}`, database: database.kind })

// Metrics on an address of their own, so a network policy can keep them from clients of the API.
async function serveMetricsAt(address: ListenAddress) {
  const metrics = metricsEndpoint()
  await listenOrExit(() => metrics.listen({ ...serveOptions, ...address }), address)
  log.info({ msg: 'serving metrics', address: `${address.hostname}:${metrics.server?.port}` })
  return metrics
}
const metricsApp = config.metricsListen && (await serveMetricsAt(config.metricsListen))

// One replica walks the database per slot; the others show what it found.
const refreshMetrics = async () => {
  await tracked(refreshSharedStorageMetrics(database.background, config.gcGraceSecs, storageWalkSlot())).catch((error) => log.warn({ msg: 'metrics refresh failed', ...errorFields(error) }))
}
void refreshMetrics()

const schedules = [
  gc,
  scrub,
  lifecycle,
  // Key usage times are written in batches rather than on every request.
  new Cron('*/30 * * * * *', { protect: true }, () => tracked(deps.auth.lastUsed.flush(database.background)).catch(() => {})),
  // Objects' last reads likewise, for tiering by idleness.
  new Cron(`*/${readFlushSecs} * * * * *`, { protect: true }, () => tracked(deps.reads.flush(database.background)).catch(() => {})),
  // Object counts and stored bytes come from the database every 30 s, not per request.
  new Cron('*/30 * * * * *', { protect: true }, refreshMetrics),
]

/**
 * Drain, then stop: readiness turns 503 and new uploads are refused at once,
 * while requests in flight (uploads and streaming downloads) and background
 * passes already running (GC, scrub, the metrics walk) get up to
 * SHUTDOWN_GRACE_SECS to finish; then connections close, the pool closes, exit 0.
 */
async function shutdown(signal: string): Promise<void> {
  if (draining) return
  draining = true
  for (const schedule of schedules) schedule.stop()
  log.info({ msg: 'shutting down', signal, grace_secs: config.shutdownGraceSecs })
  const deadline = Date.now() + config.shutdownGraceSecs * 1000
  // pendingRequests counts responses still being sent, so streamed downloads are waited for too.
  while ((app.server?.pendingRequests ?? 0) > 0 && Date.now() < deadline) await Bun.sleep(50)
  // A pass cut off here loses nothing (GC puts back the files of a batch that fails), but a finished one is cleaner.
  if (!(await backgroundWorkSettled(deadline))) log.warn({ msg: 'background work still running at the end of the grace period is cut off' })
  await app.stop(true)
  await metricsApp?.stop(true)
  await database.close()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
