import { describe, expect, test } from 'bun:test'
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ConfigError, loadConfig } from '../../core/config'

/** The ConfigError message loading this environment throws. */
function failure(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`)
}

describe('loadConfig', () => {
  test('an empty environment gives the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      hostname: '0.0.0.0',
      metricsListen: undefined,
      dataDir: resolve('./data'),
      storage: { hot: { kind: 'directory', path: resolve('./data/hot') }, cold: { kind: 'directory', path: resolve('./data/cold') } },
      s3: undefined,
      databaseUrl: undefined,
      dbMaxConnections: 8,
      dbStatementTimeoutSecs: 30,
      maxUploadBytes: 68719476736,
      inlineMaxBytes: 65536,
      adminToken: undefined,
      presignSecret: undefined,
      gcIntervalSecs: 60,
      gcBatchSize: 100,
      gcGraceSecs: 600,
      stuckUploadTimeoutSecs: 3600,
      uploadSessionTtlSecs: 86400,
      tombstoneRetentionSecs: 7 * 86400,
      scrubCron: '0 3 * * 0',
      lifecycleIntervalSecs: 60,
      scrubMaxBytesPerSec: 64 * 2 ** 20,
      shutdownGraceSecs: 25,
      authDisabled: false,
      jwt: { secret: undefined, jwksUrl: undefined, publicKeyPem: undefined, issuer: undefined, audience: undefined, jwksMaxStaleSecs: 86400 },
      rateLimitPerSec: 10_000,
      rateLimitBurst: 20_000,
      unauthenticatedRateLimitPerSec: 20,
      maxConcurrentUploadsPerTenant: 256,
      allowedOrigins: [],
      logLevel: 'info',
    })
  })

  test('auth settings: AUTH_DISABLED, JWT_* and ALLOWED_ORIGINS are parsed and checked', () => {
    const config = loadConfig({
      AUTH_DISABLED: 'true',
      JWT_SECRET: 's3cret',
      JWKS_URL: 'https://issuer.example/.well-known/jwks.json',
      JWT_ISSUER: 'issuer',
      JWT_AUDIENCE: 'juststorage',
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:3000',
    })
    expect(config.authDisabled).toBe(true)
    expect(config.jwt).toMatchObject({ secret: 's3cret', jwksUrl: 'https://issuer.example/.well-known/jwks.json', issuer: 'issuer', audience: 'juststorage' })
    expect(config.allowedOrigins).toEqual(['https://a.example', 'http://localhost:3000'])
    expect(failure({ AUTH_DISABLED: 'maybe' })).toContain('AUTH_DISABLED')
    expect(loadConfig({ LOG_LEVEL: 'debug' }).logLevel).toBe('debug')
    expect(failure({ LOG_LEVEL: 'verbose' })).toContain('LOG_LEVEL')
    expect(failure({ JWKS_URL: 'not a url' })).toContain('JWKS_URL')
    expect(loadConfig({ JWKS_MAX_STALE_SECS: '0' }).jwt.jwksMaxStaleSecs).toBe(0)
    expect(failure({ JWKS_MAX_STALE_SECS: '1d' })).toStartWith('JWKS_MAX_STALE_SECS:')
    expect(failure({ JWT_PUBLIC_KEY: 'not a pem' })).toContain('JWT_PUBLIC_KEY')
    expect(failure({ ALLOWED_ORIGINS: 'a.example/path' })).toContain('ALLOWED_ORIGINS')
    expect(failure({ RATE_LIMIT_PER_SEC: '-1' })).toContain('RATE_LIMIT_PER_SEC')
  })

  test('JWKS_URL must be https://, or http:// only when JWKS_ALLOW_HTTP says so', () => {
    expect(failure({ JWKS_URL: 'http://issuer.example/jwks.json' })).toStartWith('JWKS_URL: must be https://')
    expect(failure({ JWKS_URL: 'http://issuer.example/jwks.json', JWKS_ALLOW_HTTP: 'false' })).toStartWith('JWKS_URL:')
    expect(loadConfig({ JWKS_URL: 'http://127.0.0.1:9000/jwks.json', JWKS_ALLOW_HTTP: 'true' }).jwt.jwksUrl).toBe('http://127.0.0.1:9000/jwks.json')
    for (const other of ['ftp://issuer.example/jwks.json', 'file:///etc/jwks.json']) {
      expect(failure({ JWKS_URL: other, JWKS_ALLOW_HTTP: 'true' })).toStartWith('JWKS_URL: must be an https:// URL')
    }
    expect(failure({ JWKS_ALLOW_HTTP: 'sometimes' })).toBe('JWKS_ALLOW_HTTP: expected true or false, got "sometimes"')
  })

  test('JWKS_URL and JWT_PUBLIC_KEY together stop the start: one source of public keys', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    expect(loadConfig({ JWT_PUBLIC_KEY: pem }).jwt.publicKeyPem).toBe(pem)
    const message = failure({ JWKS_URL: 'https://issuer.example/jwks.json', JWT_PUBLIC_KEY: pem })
    expect(message).toStartWith('JWKS_URL / JWT_PUBLIC_KEY:')
    // HS256 beside either is fine: it is another algorithm.
    expect(loadConfig({ JWT_SECRET: 's3cret', JWT_PUBLIC_KEY: pem }).jwt.secret).toBe('s3cret')
  })

  test('empty values count as unset', () => {
    const empty = Object.fromEntries(
      ['PORT', 'LISTEN_ADDR', 'DATA_DIR', 'HOT_STORAGE_ROOT', 'COLD_STORAGE_ROOT', 'DATABASE_URL', 'ADMIN_TOKEN', 'MAX_UPLOAD_BYTES', 'GC_INTERVAL_SECS', 'SCRUB_CRON'].map((name) => [name, '']),
    )
    expect(loadConfig(empty)).toEqual(loadConfig({}))
  })

  test('PORT, and LISTEN_ADDR which overrides it', () => {
    expect(loadConfig({ PORT: '9000' })).toMatchObject({ hostname: '0.0.0.0', port: 9000 })
    expect(loadConfig({ PORT: '0' }).port).toBe(0)
    expect(loadConfig({ LISTEN_ADDR: '127.0.0.1:7000', PORT: '9000' })).toMatchObject({ hostname: '127.0.0.1', port: 7000 })
    expect(loadConfig({ LISTEN_ADDR: 'localhost:7001' })).toMatchObject({ hostname: 'localhost', port: 7001 })
    expect(loadConfig({ LISTEN_ADDR: '[::1]:7002' })).toMatchObject({ hostname: '::1', port: 7002 })
    expect(loadConfig({ LISTEN_ADDR: '[::]:7003' })).toMatchObject({ hostname: '::', port: 7003 })
  })

  test('METRICS_LISTEN_ADDR gives metrics a listener of their own, on another port than the API', () => {
    expect(loadConfig({ METRICS_LISTEN_ADDR: '0.0.0.0:9090' }).metricsListen).toEqual({ hostname: '0.0.0.0', port: 9090 })
    expect(loadConfig({ METRICS_LISTEN_ADDR: '[::1]:9091', LISTEN_ADDR: '[::1]:8080' }).metricsListen).toEqual({ hostname: '::1', port: 9091 })
    expect(failure({ METRICS_LISTEN_ADDR: '0.0.0.0:8080' })).toStartWith('METRICS_LISTEN_ADDR: must be another port')
    expect(failure({ METRICS_LISTEN_ADDR: '127.0.0.1:7000', LISTEN_ADDR: '0.0.0.0:7000' })).toStartWith('METRICS_LISTEN_ADDR:')
    for (const bad of ['9090', 'metrics', 'localhost:99999']) expect(failure({ METRICS_LISTEN_ADDR: bad })).toStartWith('METRICS_LISTEN_ADDR: expected host:port')
  })

  test('DATA_DIR moves both roots; HOT_STORAGE_ROOT and COLD_STORAGE_ROOT override them', () => {
    expect(loadConfig({ DATA_DIR: '/srv/js' })).toMatchObject({ dataDir: '/srv/js', storage: { hot: { path: '/srv/js/hot' }, cold: { path: '/srv/js/cold' } } })
    expect(loadConfig({ DATA_DIR: '/srv/js', HOT_STORAGE_ROOT: '/fast', COLD_STORAGE_ROOT: 'slow' })).toMatchObject({
      dataDir: '/srv/js',
      storage: { hot: { path: '/fast' }, cold: { path: resolve('slow') } },
    })
  })

  test('a root of s3://<bucket>/<prefix> puts the class on a bucket, with the S3_* (or AWS_*) settings', () => {
    const keys = { S3_ACCESS_KEY_ID: 'AK', S3_SECRET_ACCESS_KEY: 'SK' }
    expect(loadConfig({ ...keys, HOT_STORAGE_ROOT: 's3://blobs/hot//tier/', S3_ENDPOINT: 'http://rgw:7480' })).toMatchObject({
      storage: { hot: { kind: 'bucket', bucket: 'blobs', prefix: 'hot/tier/' }, cold: { kind: 'directory', path: resolve('./data/cold') } },
      s3: { endpoint: 'http://rgw:7480', region: 'us-east-1', accessKeyId: 'AK', secretAccessKey: 'SK', timeoutMs: 30_000 },
    })
    // No endpoint: AWS S3 in the region.
    expect(loadConfig({ AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'S', AWS_REGION: 'eu-west-1', HOT_STORAGE_ROOT: 's3://b-1', COLD_STORAGE_ROOT: 's3://b-2/cold' })).toMatchObject({
      storage: { hot: { kind: 'bucket', bucket: 'b-1', prefix: '' } },
      s3: { endpoint: 'https://s3.eu-west-1.amazonaws.com', region: 'eu-west-1' },
    })
    expect(loadConfig({ HOT_STORAGE_ROOT: '/fast' }).s3).toBeUndefined()
  })

  test('bucket roots refuse bad names, missing keys, a bad endpoint and overlapping prefixes', () => {
    const keys = { S3_ACCESS_KEY_ID: 'AK', S3_SECRET_ACCESS_KEY: 'SK' }
    expect(failure({ ...keys, HOT_STORAGE_ROOT: 's3://Bad_Bucket/x' })).toStartWith('HOT_STORAGE_ROOT:')
    expect(failure({ HOT_STORAGE_ROOT: 's3://blobs/hot' })).toStartWith('S3_ACCESS_KEY_ID:')
    expect(failure({ S3_ACCESS_KEY_ID: 'AK', COLD_STORAGE_ROOT: 's3://blobs/cold' })).toStartWith('S3_SECRET_ACCESS_KEY:')
    expect(failure({ ...keys, HOT_STORAGE_ROOT: 's3://blobs/hot', S3_ENDPOINT: 'rgw:7480' })).toStartWith('S3_ENDPOINT:')
    expect(failure({ ...keys, HOT_STORAGE_ROOT: 's3://blobs/hot', S3_FORCE_PATH_STYLE: 'false' })).toStartWith('S3_FORCE_PATH_STYLE:')
    expect(failure({ ...keys, HOT_STORAGE_ROOT: 's3://blobs/data', COLD_STORAGE_ROOT: 's3://blobs/data/cold' })).toContain('neither inside the other')
    expect(failure({ ...keys, HOT_STORAGE_ROOT: 's3://blobs', COLD_STORAGE_ROOT: 's3://blobs/cold' })).toContain('neither inside the other')
    // Sibling prefixes, and the same prefix in two buckets, are separate.
    expect(loadConfig({ ...keys, HOT_STORAGE_ROOT: 's3://blobs/data', COLD_STORAGE_ROOT: 's3://blobs/data-cold' }).storage.cold).toEqual({ kind: 'bucket', bucket: 'blobs', prefix: 'data-cold/' })
    expect(loadConfig({ ...keys, HOT_STORAGE_ROOT: 's3://one/data', COLD_STORAGE_ROOT: 's3://two/data' }).storage.hot).toEqual({ kind: 'bucket', bucket: 'one', prefix: 'data/' })
  })

  test('DATABASE_URL, ADMIN_TOKEN and SCRUB_CRON are taken as given', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/js' }).databaseUrl).toBe('postgres://u:p@db:5432/js')
    expect(loadConfig({ DATABASE_URL: 'postgresql://db/js' }).databaseUrl).toBe('postgresql://db/js')
    expect(loadConfig({ ADMIN_TOKEN: 'a-long-admin-token-of-32-bytes!!' }).adminToken).toBe('a-long-admin-token-of-32-bytes!!')
    expect(loadConfig({ SCRUB_CRON: '*/5 * * * *' }).scrubCron).toBe('*/5 * * * *')
  })

  test.each([
    ['DB_MAX_CONNECTIONS', 'dbMaxConnections', '5', 5],
    ['DB_STATEMENT_TIMEOUT_SECS', 'dbStatementTimeoutSecs', '5', 5],
    ['MAX_UPLOAD_BYTES', 'maxUploadBytes', '1048576', 1048576],
    ['INLINE_MAX_BYTES', 'inlineMaxBytes', '0', 0],
    ['GC_INTERVAL_SECS', 'gcIntervalSecs', '15', 15],
    ['GC_BATCH_SIZE', 'gcBatchSize', '500', 500],
    ['GC_GRACE_SECS', 'gcGraceSecs', '0', 0],
    ['STUCK_UPLOAD_TIMEOUT_SECS', 'stuckUploadTimeoutSecs', '120', 120],
    ['UPLOAD_SESSION_TTL_SECS', 'uploadSessionTtlSecs', '600', 600],
    ['TOMBSTONE_RETENTION_SECS', 'tombstoneRetentionSecs', '0', 0],
    ['SCRUB_MAX_BYTES_PER_SEC', 'scrubMaxBytesPerSec', '1000', 1000],
  ] as const)('%s is parsed into %s', (variable, field, raw, value) => {
    expect(loadConfig({ [variable]: raw })[field]).toBe(value)
    expect(loadConfig({ [variable]: ` ${raw} ` })[field]).toBe(value)
  })

  test.each([
    ['PORT', ['http', '-1', '65536', '80.5', '1e3', ' ']],
    ['LISTEN_ADDR', ['8080', ':8080', 'localhost', 'localhost:', 'localhost:99999', 'local host:80', 'http://localhost:80']],
    ['DATABASE_URL', ['mysql://db/js', 'db:5432', 'localhost']],
    ['DB_MAX_CONNECTIONS', ['0', '1001', 'many']],
    ['DB_STATEMENT_TIMEOUT_SECS', ['0', '86401', '5s']],
    ['MAX_UPLOAD_BYTES', ['0', '-1', '64GiB', '1.5', '99999999999999999999']],
    ['GC_INTERVAL_SECS', ['0', 'often']],
    ['GC_BATCH_SIZE', ['0', '10001', '65536']],
    ['GC_GRACE_SECS', ['-1', '10m']],
    ['STUCK_UPLOAD_TIMEOUT_SECS', ['0', '1h']],
    ['TOMBSTONE_RETENTION_SECS', ['-5', 'week']],
    ['SCRUB_CRON', ['weekly please', '* * *', '61 * * * *']],
    ['SCRUB_MAX_BYTES_PER_SEC', ['0', 'fast']],
  ] as const)('a bad %s stops the start with a message naming it', (variable, values) => {
    for (const value of values) expect(failure({ [variable]: value })).toStartWith(`${variable}:`)
  })

  test('an ADMIN_TOKEN shorter than 32 bytes stops the start, without echoing the token', () => {
    for (const token of ['s3cret', 'CHANGE_ME', 'x'.repeat(31), 'é'.repeat(15)]) {
      const message = failure({ ADMIN_TOKEN: token })
      expect(message).toStartWith('ADMIN_TOKEN:')
      expect(message).toContain('at least 32 bytes')
      expect(message).not.toContain(token)
    }
    // Bytes, not characters: 16 two-byte characters are enough.
    expect(loadConfig({ ADMIN_TOKEN: 'é'.repeat(16) }).adminToken).toBe('é'.repeat(16))
  })

  test('a PRESIGN_SECRET shorter than 32 bytes stops the start, naming the variable and not echoing the secret', () => {
    for (const secret of ['s3cret', 'CHANGE_ME', 'x'.repeat(31), 'é'.repeat(15)]) {
      const message = failure({ PRESIGN_SECRET: secret })
      expect(message).toStartWith('PRESIGN_SECRET:')
      expect(message).toContain('at least 32 bytes')
      expect(message).not.toContain(secret)
    }
    expect(loadConfig({ PRESIGN_SECRET: 'p'.repeat(32) }).presignSecret).toBe('p'.repeat(32))
    expect(loadConfig({ PRESIGN_SECRET: 'é'.repeat(16) }).presignSecret).toBe('é'.repeat(16))
    // Empty is unset: the secret is then generated and kept in the database.
    expect(loadConfig({ PRESIGN_SECRET: '' }).presignSecret).toBeUndefined()
  })

  test('the message says what was wrong with the value', () => {
    expect(failure({ GC_GRACE_SECS: 'soon' })).toContain('"soon"')
    expect(failure({ PORT: '70000' })).toContain('70000')
  })
})

describe('storage roots', () => {
  // GC and the orphan sweep of one class would delete the other's live files under a shared or nested root.
  const refused = (env: Record<string, string | undefined>) => {
    try {
      loadConfig(env)
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      return (error as Error).message
    }
    throw new Error(`accepted ${JSON.stringify(env)}`)
  }

  test('equal or nested roots stop the start with a message naming both variables', () => {
    for (const env of [
      { HOT_STORAGE_ROOT: '/srv/blobs', COLD_STORAGE_ROOT: '/srv/blobs' },
      { HOT_STORAGE_ROOT: '/srv/blobs/hot', COLD_STORAGE_ROOT: '/srv/blobs' },
      { HOT_STORAGE_ROOT: '/srv/blobs', COLD_STORAGE_ROOT: '/srv/blobs/cold/' },
      { DATA_DIR: '/srv/js', COLD_STORAGE_ROOT: '/srv/js/hot/archive' },
    ]) {
      const message = refused(env)
      expect(message).toContain('HOT_STORAGE_ROOT')
      expect(message).toContain('COLD_STORAGE_ROOT')
      expect(message).toContain('neither inside the other')
    }
  })

  test('roots are compared after resolving links', () => {
    const dir = mkdtempSync(join(tmpdir(), 'juststorage-roots-'))
    try {
      mkdirSync(join(dir, 'hot'))
      symlinkSync(join(dir, 'hot'), join(dir, 'alias'))
      expect(refused({ HOT_STORAGE_ROOT: join(dir, 'hot'), COLD_STORAGE_ROOT: join(dir, 'alias') })).toContain('neither inside the other')
      // Not yet created below a link still resolves through it.
      expect(refused({ HOT_STORAGE_ROOT: join(dir, 'hot'), COLD_STORAGE_ROOT: join(dir, 'alias', 'not', 'yet') })).toContain('neither inside the other')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('sibling roots, even sharing a name prefix, are fine', () => {
    expect(loadConfig({ HOT_STORAGE_ROOT: '/srv/blobs', COLD_STORAGE_ROOT: '/srv/blobs-cold' })).toMatchObject({ storage: { hot: { path: '/srv/blobs' }, cold: { path: '/srv/blobs-cold' } } })
  })
})
