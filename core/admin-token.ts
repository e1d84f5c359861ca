import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { eq } from 'drizzle-orm'
import type { Db } from './db/client'
import { settings } from './db/schema'
import { log } from './log'

const settingName = 'admin_token_sha256'
export const sha256Hex = (value: string): string => createHash('sha256').update(value).digest('hex')

/**
 * The SHA-256 of the bootstrap admin secret. ADMIN_TOKEN when set; otherwise
 * the first replica to start generates one, stores only its hash in the
 * database (shared by every replica), writes the secret to
 * `<data dir>/admin-token` (mode 0600) and prints it, once.
 */
export async function adminTokenHash(db: Db, configured: string | undefined, dataDir: string): Promise<string> {
  if (configured) return sha256Hex(configured)
  const stored = await storedHash(db)
  if (stored !== undefined) return stored
  const token = `jsa_${randomBytes(32).toString('base64url')}`
  const file = `${dataDir}/admin-token`
  // With both storage roots and DATABASE_URL set elsewhere, nothing else creates the data dir.
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, `${token}\n`, { mode: 0o600 })
  const claimed = await db.insert(settings).values({ name: settingName, value: sha256Hex(token) }).onConflictDoNothing().returning()
  if (claimed.length === 0) {
    // Another replica generated its token at the same moment and won.
    unlinkSync(file)
    return (await storedHash(db))!
  }
  log.warn({ msg: 'generated an admin token; it is shown only now and kept in admin-token', admin_token: token, file })
  return sha256Hex(token)
}

async function storedHash(db: Db): Promise<string | undefined> {
  const [row] = await db.select().from(settings).where(eq(settings.name, settingName))
  return row?.value
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
