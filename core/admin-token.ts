import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'

/**
 * The bootstrap admin secret: ADMIN_TOKEN, else the one generated on first
 * start and kept in `<data dir>/admin-token` (mode 0600), printed only then.
 */
export function resolveAdminToken(configured: string | undefined, dataDir: string): string {
  if (configured) return configured
  const file = `${dataDir}/admin-token`
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim()
    if (stored) return stored
    // Empty: a crash between creating and writing it. An empty token would let an empty X-API-Key in.
    unlinkSync(file)
  }
  const token = `jsa_${randomBytes(32).toString('base64url')}`
  // With both storage roots and DATABASE_URL set elsewhere, nothing else creates the data dir.
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' })
  console.info(JSON.stringify({ level: 'warn', msg: 'generated an admin token; it is shown only now and kept in admin-token', admin_token: token, file }))
  return token
}

const digest = (value: string) => createHash('sha256').update(value).digest()

/** Compares secrets in constant time (over their digests, so lengths do not leak either). */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}

/** The credential of a request: `Authorization: Bearer …` or `X-API-Key`. */
export function presentedSecret(headers: Headers): string | null {
  const authorization = headers.get('authorization')
  if (authorization !== null) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    return match ? match[1]! : null
  }
  return headers.get('x-api-key') || null
}
