import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client'
import { settings } from '../db/schema'
import { parseDbTime } from '../db/time'
import { ApiError } from '../errors'
import { isUuid } from '../identifiers'
import { findApiKey, keyPrincipal, type LastUsedTracker } from './api-keys'
import { authorizeObjects, type Permission, type Principal } from './principal'

/**
 * Presigned URLs: a path on this service plus query parameters naming the
 * signer, the tenant and namespace it acts in, the expiry and (for an upload)
 * max_bytes, all covered with the method and path by one HMAC-SHA256. Holding
 * the URL is the credential; it acts with the signer's rights narrowed to that
 * one operation.
 */

export type PresignMethod = 'GET' | 'PUT'

export interface PresignedOperation {
  method: PresignMethod
  /** The path as a client sends it, percent-encoded. */
  path: string
  tenantId: string
  namespace: string
  /** Unix seconds; the URL works while the clock is before it. */
  expires: number
  maxBytes?: number
}

/** What signing and checking a URL need. */
export interface PresignKeys {
  presignSecret: Buffer
  /** Mixed into the signature of the admin token's URLs, so they die with the token they were signed with. */
  adminTokenHash: string
  disabled: boolean
}

export interface PresignVerifier extends PresignKeys {
  db: Db
  lastUsed: LastUsedTracker
}

export const presignParams = {
  signer: 'presign_signer',
  tenant: 'presign_tenant',
  namespace: 'presign_namespace',
  expires: 'presign_expires',
  maxBytes: 'presign_max_bytes',
  signature: 'presign_signature',
} as const

export const permissionFor = (method: PresignMethod): Permission => (method === 'GET' ? 'objects:read' : 'objects:write')

/** The URL (path and query) that does the operation as the signer until it expires. */
export function presignedUrl(keys: PresignKeys, signer: Principal, operation: PresignedOperation): string {
  const values: SignedValues = {
    signer: signer.id,
    tenant: operation.tenantId,
    namespace: operation.namespace,
    expires: String(operation.expires),
    maxBytes: operation.maxBytes === undefined ? undefined : String(operation.maxBytes),
  }
  const query = new URLSearchParams()
  for (const [field, value] of Object.entries(values)) if (value !== undefined) query.set(presignParams[field as keyof SignedValues], value)
  query.set(presignParams.signature, signature(keys, operation.method, operation.path, values))
  return `${operation.path}?${query}`
}

/** Whether a request claims to be a presigned one; it is checked only when it carries no credential. */
export const isPresigned = (url: string): boolean => new URL(url).searchParams.has(presignParams.signature)

type SignedValues = Record<Exclude<keyof typeof presignParams, 'signature'>, string | undefined>

/**
 * One unambiguous string per operation: a JSON array cannot be shifted from
 * one field into the next the way joined text can.
 */
function signature(keys: PresignKeys, method: string, path: string, values: SignedValues): string {
  const binding = values.signer === 'admin-token' ? keys.adminTokenHash : ''
  const canonical = JSON.stringify(['juststorage-presign-v1', method, path, values.signer, values.tenant, values.namespace, values.expires, values.maxBytes ?? null, binding])
  return createHmac('sha256', keys.presignSecret).update(canonical).digest('base64url')
}

const forbidden = (why: string) => new ApiError('forbidden', `This presigned URL is not valid: ${why}`)

/**
 * The principal of a presigned request, or 403 for a URL that was changed,
 * forged or has expired, and 401 when the API key that signed it has since
 * been revoked or has expired.
 */
export async function presignedPrincipal(request: Request, verifier: PresignVerifier): Promise<Principal> {
  const url = new URL(request.url)
  const one = (name: string): string | undefined => {
    const values = url.searchParams.getAll(name)
    if (values.length > 1) throw forbidden(`${name} is given twice`)
    return values[0]
  }
  const values: SignedValues = {
    signer: one(presignParams.signer),
    tenant: one(presignParams.tenant),
    namespace: one(presignParams.namespace),
    expires: one(presignParams.expires),
    maxBytes: one(presignParams.maxBytes),
  }
  const given = one(presignParams.signature) ?? ''
  // A GET URL also answers HEAD: the same read without the body.
  const method = request.method === 'HEAD' ? 'GET' : request.method
  if (values.signer === undefined || values.tenant === undefined || values.namespace === undefined || values.expires === undefined) throw forbidden('a parameter is missing')
  // Compared as text, not as decoded bytes: decoding drops stray characters and the last character's two spare bits, so altered signatures would pass.
  const expected = Buffer.from(signature(verifier, method, url.pathname, values))
  const presented = Buffer.from(given)
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw forbidden('the signature does not match its method, path and parameters')

  const permission = permissionFor(method as PresignMethod)
  const signer = await currentSigner(verifier, values.signer, { permission, tenant: values.tenant, namespace: values.namespace })
  if (Date.now() >= Number(values.expires) * 1000) throw forbidden('it has expired')
  return {
    kind: signer.kind,
    id: signer.id,
    tenantId: values.tenant,
    permissions: new Set([permission]),
    namespaces: new Set([values.namespace]),
    expiresAt: Number(values.expires) * 1000,
    ...(values.maxBytes === undefined ? {} : { maxUploadBytes: Number(values.maxBytes) }),
  }
}

type Operation = { permission: Permission; tenant: string; namespace: string }

/**
 * Who signed, as they are now. An API key is read again, so revoking it ends
 * its URLs on every replica at once. A JWT cannot be read again: its rights
 * were checked at signing, and its URLs expire no later than the token. The
 * admin token's URLs are bound to the token by their signature.
 */
async function currentSigner(verifier: PresignVerifier, signer: string, operation: Operation): Promise<Pick<Principal, 'kind' | 'id'>> {
  if (signer.startsWith('api-key:')) return apiKeySigner(verifier, signer.slice('api-key:'.length), operation)
  if (signer === 'admin-token') return { kind: 'admin-token', id: signer }
  if (signer.startsWith('jwt:')) return { kind: 'jwt', id: signer }
  // Signed while authentication was off: such a URL opens nothing once it is on.
  if (signer === 'auth-disabled' && verifier.disabled) return { kind: 'auth-disabled', id: signer }
  throw forbidden('its signer is not known')
}

async function apiKeySigner(verifier: PresignVerifier, id: string, operation: Operation): Promise<Principal> {
  const gone = new ApiError('unauthenticated', 'The API key that signed this URL is revoked or has expired', { 'www-authenticate': 'Bearer error="invalid_token"' })
  if (!isUuid(id)) throw forbidden('its signer is not known')
  let row
  try {
    row = await findApiKey(verifier.db, id, { tenantId: null, namespaces: null })
  } catch (error) {
    if (error instanceof ApiError && error.code === 'not_found') throw gone
    throw error
  }
  if (row.expiresAt !== null && parseDbTime(row.expiresAt).getTime() <= Date.now()) throw gone
  const key = keyPrincipal(row)
  try {
    authorizeObjects(key, operation.permission, { tenant: operation.tenant, namespace: operation.namespace })
  } catch (error) {
    if (error instanceof ApiError) throw forbidden('the key that signed it may not do this')
    throw error
  }
  verifier.lastUsed.touch(row.id)
  return key
}

const settingName = 'presign_secret'

/**
 * PRESIGN_SECRET when set; otherwise the first replica to start claims a
 * random one in the settings table and every replica reads the same back, so
 * each accepts the URLs of the others.
 */
export async function presignSecret(db: Db, configured: string | undefined): Promise<Buffer> {
  if (configured !== undefined) return Buffer.from(configured, 'utf8')
  await db.insert(settings).values({ name: settingName, value: randomBytes(32).toString('base64url') }).onConflictDoNothing()
  const [row] = await db.select().from(settings).where(eq(settings.name, settingName))
  return Buffer.from(row!.value, 'base64url')
}
