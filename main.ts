import { mkdirSync } from 'node:fs'
import { createApp, serveOptions } from './app'
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
const app = createApp({
  store: { db: database.db, roots: { hot: config.hotRoot, cold: config.coldRoot }, maxUploadBytes: config.maxUploadBytes },
  draining: () => draining,
})
app.listen({ ...serveOptions, hostname: config.hostname, port: config.port })
console.info(JSON.stringify({ level: 'info', msg: 'listening', address: `${config.hostname}:${app.server?.port}`, database: database.kind }))

async function shutdown(signal: string): Promise<void> {
  draining = true
  console.info(JSON.stringify({ level: 'info', msg: 'shutting down', signal }))
  await app.stop()
  await database.close()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
