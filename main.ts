import { mkdirSync } from 'node:fs'
import { createApp, gcDeps, scrubDeps, serveOptions, type AppDeps } from './app'
import { resolveAdminToken } from './core/admin-token'
import { scheduleGc } from './functions/gc'
import { scheduleScrub } from './functions/scrub'
import { ConfigError, loadConfig, type Config } from './core/config'
import { openDatabase } from './core/db/client'

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
for (const root of [config.hotRoot, config.coldRoot]) mkdirSync(`${root}/tmp`, { recursive: true })
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, maxConnections: config.dbMaxConnections })

let draining = false
const deps: AppDeps = {
  store: { db: database.db, roots: { hot: config.hotRoot, cold: config.coldRoot }, maxUploadBytes: config.maxUploadBytes },
  draining: () => draining,
  adminToken: resolveAdminToken(config.adminToken, config.dataDir),
  gc: {
    graceSecs: config.gcGraceSecs,
    batchSize: config.gcBatchSize,
    stuckUploadTimeoutSecs: config.stuckUploadTimeoutSecs,
    tombstoneRetentionSecs: config.tombstoneRetentionSecs,
  },
  scrubMaxBytesPerSec: config.scrubMaxBytesPerSec,
}
const app = createApp(deps)
app.listen({ ...serveOptions, hostname: config.hostname, port: config.port })
console.info(JSON.stringify({ level: 'info', msg: 'listening', address: `${config.hostname}:${app.server?.port}`, database: database.kind }))

const schedules = [scheduleGc(gcDeps(deps), config.gcIntervalSecs), scheduleScrub(scrubDeps(deps), config.scrubCron)]

async function shutdown(signal: string): Promise<void> {
  draining = true
  for (const schedule of schedules) schedule.stop()
  console.info(JSON.stringify({ level: 'info', msg: 'shutting down', signal }))
  await app.stop()
  await database.close()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
