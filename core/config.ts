import { existsSync, realpathSync } from 'node:fs'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { createPublicKey } from 'node:crypto'
import { Cron } from 'croner'
import { logLevels, type LogLevel } from './log'

export type StorageLocation = { kind: 'directory'; path: string } | { kind: 'bucket'; bucket: string; prefix: string }

export interface S3Settings {
  endpoint: string
  region: string
  accessKeyId: string
  secretAccessKey: string
  /** Longest wait for any answer of the bucket (a request, a part, a chunk of a download) before it counts as unreachable. */
  timeoutMs: number
}

/** Every setting the service reads, parsed and checked once at start. */
export interface Config {
  port: number
  hostname: string
  /** Where GET /metrics is served instead of beside the API; undefined: on the API's listener. */
  metricsListen: ListenAddress | undefined
  dataDir: string
  /** Where each storage class keeps its blobs: a directory or a bucket. */
  storage: Record<'hot' | 'cold', StorageLocation>
  /** The S3-compatible store's settings, when a class is on a bucket. */
  s3: S3Settings | undefined
  databaseUrl: string | undefined
  dbMaxConnections: number
  dbStatementTimeoutSecs: number
  maxUploadBytes: number
  inlineMaxBytes: number
  adminToken: string | undefined
  /** The HMAC secret of presigned URLs; undefined: generated once and kept in the database. */
  presignSecret: string | undefined
  gcIntervalSecs: number
  gcBatchSize: number
  gcGraceSecs: number
  stuckUploadTimeoutSecs: number
  uploadSessionTtlSecs: number
  tombstoneRetentionSecs: number
  scrubCron: string
  lifecycleIntervalSecs: number
  scrubMaxBytesPerSec: number
  shutdownGraceSecs: number
  authDisabled: boolean
  jwt: { secret?: string; jwksUrl?: string; publicKeyPem?: string; issuer?: string; audience?: string; jwksMaxStaleSecs: number }
  rateLimitPerSec: number
  rateLimitBurst: number
  unauthenticatedRateLimitPerSec: number
  maxConcurrentUploadsPerTenant: number
  allowedOrigins: string[]
  logLevel: LogLevel
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`)
  }
}

type Env = Record<string, string | undefined>

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected a whole number, got "${raw}"`)
  const value = Number(raw.trim())
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`)
  return value
}

export interface ListenAddress {
  hostname: string
  port: number
}

/** A `host:port` setting (`[v6]:port` for IPv6); undefined when unset. */
function hostPort(env: Env, name: string): ListenAddress | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw.trim())
  if (!match || Number(match[2]) > 65535) throw new ConfigError(name, `expected host:port, got "${raw}"`)
  return { hostname: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) }
}

function listenAddress(env: Env): ListenAddress {
  const port = integer(env, 'PORT', 8080, 0, 65535)
  return hostPort(env, 'LISTEN_ADDR') ?? { hostname: '0.0.0.0', port }
}

function metricsListenAddress(env: Env, api: ListenAddress): ListenAddress | undefined {
  const metrics = hostPort(env, 'METRICS_LISTEN_ADDR')
  if (metrics !== undefined && metrics.port !== 0 && metrics.port === api.port) {
    throw new ConfigError('METRICS_LISTEN_ADDR', `must be another port than the API's ${api.port}`)
  }
  return metrics
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL
  if (raw === undefined || raw === '') return undefined
  if (!/^postgres(ql)?:\/\//.test(raw)) throw new ConfigError('DATABASE_URL', 'must start with postgres:// or postgresql://')
  return raw
}

function cronExpression(env: Env, name: string, fallback: string): string {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  try {
    new Cron(raw, { paused: true }).stop()
  } catch (error) {
    throw new ConfigError(name, `not a valid cron expression "${raw}": ${(error as Error).message}`)
  }
  return raw
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (/^(true|1|yes)$/i.test(raw.trim())) return true
  if (/^(false|0|no)$/i.test(raw.trim())) return false
  throw new ConfigError(name, `expected true or false, got "${raw}"`)
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name]
  return raw === undefined || raw.trim() === '' ? undefined : raw
}

/** The key set decides who is admin: fetched over plain http, anyone on the path could forge every token. */
function jwksUrl(env: Env): string | undefined {
  const allowHttp = boolean(env, 'JWKS_ALLOW_HTTP', false)
  const raw = optional(env, 'JWKS_URL')
  if (raw === undefined) return undefined
  if (!URL.canParse(raw)) throw new ConfigError('JWKS_URL', `not a URL: "${raw}"`)
  const { protocol } = new URL(raw)
  if (protocol === 'https:' || (protocol === 'http:' && allowHttp)) return raw
  if (protocol === 'http:') throw new ConfigError('JWKS_URL', `must be https:// (set JWKS_ALLOW_HTTP=true to accept "${raw}")`)
  throw new ConfigError('JWKS_URL', `must be an https:// URL, got "${raw}"`)
}

function publicKeyPem(env: Env): string | undefined {
  const raw = optional(env, 'JWT_PUBLIC_KEY')
  if (raw === undefined) return undefined
  const pem = raw.replaceAll('\\n', '\n')
  try {
    createPublicKey(pem)
  } catch (error) {
    throw new ConfigError('JWT_PUBLIC_KEY', `not a PEM public key: ${(error as Error).message}`)
  }
  return pem
}

/** JWT_SECRET (HS256), and one source of public keys for RS256/ES256/EdDSA: JWKS_URL or JWT_PUBLIC_KEY. */
function jwtSettings(env: Env): Config['jwt'] {
  const settings = {
    secret: optional(env, 'JWT_SECRET'),
    jwksUrl: jwksUrl(env),
    publicKeyPem: publicKeyPem(env),
    issuer: optional(env, 'JWT_ISSUER'),
    audience: optional(env, 'JWT_AUDIENCE'),
    jwksMaxStaleSecs: integer(env, 'JWKS_MAX_STALE_SECS', 86400, 0),
  }
  if (settings.jwksUrl !== undefined && settings.publicKeyPem !== undefined) {
    throw new ConfigError('JWKS_URL / JWT_PUBLIC_KEY', 'set one of them, not both: they verify the same algorithms (put the PEM key into the key set instead)')
  }
  return settings
}

/** The admin token opens every tenant: a short or placeholder value must not start a service. */
const minAdminTokenBytes = 32

function adminToken(env: Env): string | undefined {
  return secret(env, 'ADMIN_TOKEN')
}

/** A secret from the environment, unset when empty; a short one is refused, never used. */
function secret(env: Env, name: string): string | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const bytes = Buffer.byteLength(raw, 'utf8')
  if (bytes < minAdminTokenBytes) throw new ConfigError(name, `must be at least ${minAdminTokenBytes} bytes of random (e.g. openssl rand -base64 32), got ${bytes}`)
  return raw
}

/** Whoever knows the presign secret can sign any URL as anyone: it is held to the admin token's length. */
function presignSecret(env: Env): string | undefined {
  return secret(env, 'PRESIGN_SECRET')
}

function origins(env: Env): string[] {
  const raw = optional(env, 'ALLOWED_ORIGINS')
  if (raw === undefined) return []
  const list = raw.split(',').map((origin) => origin.trim()).filter(Boolean)
  for (const origin of list) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new ConfigError('ALLOWED_ORIGINS', `not an origin (scheme://host[:port]): "${origin}"`)
  }
  return list
}

function logLevel(env: Env): LogLevel {
  const raw = optional(env, 'LOG_LEVEL')?.trim().toLowerCase()
  if (raw === undefined) return 'info'
  if (!(logLevels as readonly string[]).includes(raw)) throw new ConfigError('LOG_LEVEL', `expected one of ${logLevels.join(', ')}, got "${env.LOG_LEVEL}"`)
  return raw as LogLevel
}

/** A path with the links of its existing part resolved, so that two spellings of one directory compare equal. */
function physicalPath(path: string): string {
  const missing: string[] = []
  let existing = path
  while (!existsSync(existing) && dirname(existing) !== existing) {
    missing.unshift(basename(existing))
    existing = dirname(existing)
  }
  return join(realpathSync(existing), ...missing)
}

/**
 * A class's root is a directory or `s3://<bucket>/<prefix>`. Each class's GC
 * and orphan sweep treat every blob under its root as theirs: with one root
 * inside the other (or both the same) they would delete the other class's live
 * blobs.
 */
function storageLocations(env: Env, dataDir: string): { storage: Config['storage']; s3: S3Settings | undefined } {
  const hot = storageLocation(env, 'HOT_STORAGE_ROOT', `${dataDir}/hot`)
  const cold = storageLocation(env, 'COLD_STORAGE_ROOT', `${dataDir}/cold`)
  const overlap = (a: string, b: string, separator: string) => a === b || a.startsWith(b.endsWith(separator) ? b : `${b}${separator}`)
  const shared =
    hot.kind === 'directory' && cold.kind === 'directory'
      ? [physicalPath(hot.path), physicalPath(cold.path), sep] as const
      : hot.kind === 'bucket' && cold.kind === 'bucket' && hot.bucket === cold.bucket
        ? [`/${hot.prefix}`, `/${cold.prefix}`, '/'] as const
        : null
  if (shared && (overlap(shared[0], shared[1], shared[2]) || overlap(shared[1], shared[0], shared[2]))) {
    throw new ConfigError('HOT_STORAGE_ROOT / COLD_STORAGE_ROOT', `the two roots must be separate, neither inside the other; they are ${describeLocation(hot)} and ${describeLocation(cold)}`)
  }
  return { storage: { hot, cold }, s3: hot.kind === 'bucket' || cold.kind === 'bucket' ? s3Settings(env) : undefined }
}

const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

function storageLocation(env: Env, name: string, fallback: string): StorageLocation {
  const raw = optional(env, name) ?? fallback
  if (!raw.startsWith('s3://')) return { kind: 'directory', path: resolve(raw) }
  const [bucket = '', ...rest] = raw.slice('s3://'.length).split('/')
  if (!bucketName.test(bucket)) throw new ConfigError(name, `"${bucket}" is not a bucket name (3–63 lowercase letters, digits, dots and hyphens): expected s3://<bucket>/<prefix>`)
  const prefix = rest.filter((segment) => segment !== '').join('/')
  return { kind: 'bucket', bucket, prefix: prefix === '' ? '' : `${prefix}/` }
}

/** The directories of the classes kept on directories. */
export const storageDirectories = (config: Pick<Config, 'storage'>): Partial<Record<'hot' | 'cold', string>> =>
  Object.fromEntries(Object.entries(config.storage).flatMap(([storageClass, location]) => (location.kind === 'directory' ? [[storageClass, location.path]] : [])))

export const describeLocation = (location: StorageLocation): string =>
  location.kind === 'directory' ? location.path : `s3://${location.bucket}/${location.prefix}`

/** The S3_* settings, each also read under its AWS_* name. */
function s3Settings(env: Env): S3Settings {
  const either = (name: string, alias: string) => optional(env, name) ?? optional(env, alias)
  const endpoint = either('S3_ENDPOINT', 'AWS_ENDPOINT_URL')
  if (endpoint !== undefined && !/^https?:\/\//.test(endpoint)) throw new ConfigError('S3_ENDPOINT', `expected an http:// or https:// URL, got "${endpoint}"`)
  const accessKeyId = either('S3_ACCESS_KEY_ID', 'AWS_ACCESS_KEY_ID')
  const secretAccessKey = either('S3_SECRET_ACCESS_KEY', 'AWS_SECRET_ACCESS_KEY')
  if (accessKeyId === undefined) throw new ConfigError('S3_ACCESS_KEY_ID', 'a storage class is on a bucket: set the access key (or AWS_ACCESS_KEY_ID)')
  if (secretAccessKey === undefined) throw new ConfigError('S3_SECRET_ACCESS_KEY', 'a storage class is on a bucket: set the secret key (or AWS_SECRET_ACCESS_KEY)')
  // Requests name the bucket in the path, which every S3-compatible store and AWS S3 answer.
  if (!boolean(env, 'S3_FORCE_PATH_STYLE', true)) throw new ConfigError('S3_FORCE_PATH_STYLE', 'only path-style requests (https://<endpoint>/<bucket>/<key>) are supported')
  const region = either('S3_REGION', 'AWS_REGION') ?? 'us-east-1'
  const timeoutMs = integer(env, 'S3_TIMEOUT_SECS', 30, 1, 3600) * 1000
  return { endpoint: endpoint ?? `https://s3.${region}.amazonaws.com`, region, accessKeyId, secretAccessKey, timeoutMs }
}

export function loadConfig(env: Env = process.env): Config {
  const { hostname, port } = listenAddress(env)
  const metricsListen = metricsListenAddress(env, { hostname, port })
  const dataDir = resolve(env.DATA_DIR || './data')
  return {
    port,
    hostname,
    metricsListen,
    dataDir,
    ...storageLocations(env, dataDir),
    databaseUrl: databaseUrl(env),
    dbMaxConnections: integer(env, 'DB_MAX_CONNECTIONS', 8, 1, 1000),
    dbStatementTimeoutSecs: integer(env, 'DB_STATEMENT_TIMEOUT_SECS', 30, 1, 86400),
    maxUploadBytes: integer(env, 'MAX_UPLOAD_BYTES', 64 * 2 ** 30, 1),
    inlineMaxBytes: integer(env, 'INLINE_MAX_BYTES', 64 * 1024, 0, 1024 * 1024),
    adminToken: adminToken(env),
    presignSecret: presignSecret(env),
    gcIntervalSecs: integer(env, 'GC_INTERVAL_SECS', 60, 1),
    // A batch is one transaction holding its blobs' row locks while their files move out of the tree.
    gcBatchSize: integer(env, 'GC_BATCH_SIZE', 100, 1, 10_000),
    gcGraceSecs: integer(env, 'GC_GRACE_SECS', 600, 0),
    stuckUploadTimeoutSecs: integer(env, 'STUCK_UPLOAD_TIMEOUT_SECS', 3600, 1),
    uploadSessionTtlSecs: integer(env, 'UPLOAD_SESSION_TTL_SECS', 86400, 1),
    tombstoneRetentionSecs: integer(env, 'TOMBSTONE_RETENTION_SECS', 7 * 86400, 0),
    scrubCron: cronExpression(env, 'SCRUB_CRON', '0 3 * * 0'),
    lifecycleIntervalSecs: integer(env, 'LIFECYCLE_INTERVAL_SECS', 60, 1),
    scrubMaxBytesPerSec: integer(env, 'SCRUB_MAX_BYTES_PER_SEC', 64 * 2 ** 20, 1),
    shutdownGraceSecs: integer(env, 'SHUTDOWN_GRACE_SECS', 25, 0, 3600),
    authDisabled: boolean(env, 'AUTH_DISABLED', false),
    jwt: jwtSettings(env),
    rateLimitPerSec: integer(env, 'RATE_LIMIT_PER_SEC', 10_000, 0),
    rateLimitBurst: integer(env, 'RATE_LIMIT_BURST', 20_000, 1),
    unauthenticatedRateLimitPerSec: integer(env, 'UNAUTHENTICATED_RATE_LIMIT_PER_SEC', 20, 0),
    maxConcurrentUploadsPerTenant: integer(env, 'MAX_CONCURRENT_UPLOADS_PER_TENANT', 256, 0),
    allowedOrigins: origins(env),
    logLevel: logLevel(env),
  }
}
