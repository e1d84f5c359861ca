import type { Db } from '../db/client'
import { ApiError } from '../errors'
import { presentedSecret, secretsEqual, sha256Hex } from '../admin-token'
import { looksLikeApiKey, principalOfApiKey, type LastUsedTracker } from './api-keys'
import { looksLikeJwt, type JwtVerifier } from './jwt'
import { isPresigned, presignedPrincipal } from './presign'
import { adminPrincipal, type Principal } from './principal'

export interface Authenticator {
  db: Db
  /** SHA-256 (hex) of the admin token. */
  adminTokenHash: string
  jwt: JwtVerifier | null
  lastUsed: LastUsedTracker
  disabled: boolean
  /** The HMAC secret of presigned URLs, shared by every replica. */
  presignSecret: Buffer
}

const missing = () => new ApiError('unauthenticated', 'Credentials are required: Authorization: Bearer <secret> or X-API-Key', { 'www-authenticate': 'Bearer' })
const rejected = () => new ApiError('unauthenticated', 'The credential is not valid', { 'www-authenticate': 'Bearer error="invalid_token"' })

/** Resolves the principal of a request from an API key, a JWT or the admin token; 401 otherwise. */
export async function authenticate(headers: Headers, auth: Authenticator): Promise<Principal> {
  if (auth.disabled) return adminPrincipal('auth-disabled')
  const secret = presentedSecret(headers)
  if (secret === null) throw headers.has('authorization') ? rejected() : missing()
  if (looksLikeApiKey(secret)) return principalOfApiKey(auth.db, secret, auth.lastUsed)
  if (auth.jwt && looksLikeJwt(secret)) return auth.jwt(secret)
  if (secretsEqual(sha256Hex(secret), auth.adminTokenHash)) return adminPrincipal('admin-token')
  throw rejected()
}

/**
 * The principal of a request: a presigned URL's when it carries a signature and
 * no credential (checked even with authentication off, so a URL's limits hold
 * wherever it is used), else the credential's.
 */
export async function authenticateRequest(request: Request, auth: Authenticator): Promise<Principal> {
  const credential = request.headers.has('authorization') || request.headers.has('x-api-key')
  if (!credential && isPresigned(request.url)) return presignedPrincipal(request, auth)
  return authenticate(request.headers, auth)
}

// The principal found for a request, kept beside it rather than in the
// framework's context so handlers never need the whole context.
const principals = new WeakMap<Request, Principal>()

export function rememberPrincipal(request: Request, principal: Principal): void {
  principals.set(request, principal)
}

/** The authenticated principal of a request; every /v1 route has one. */
export function principalOf(request: Request): Principal {
  const principal = principals.get(request)
  if (!principal) throw new ApiError('unauthenticated', 'Credentials are required', { 'www-authenticate': 'Bearer' })
  return principal
}

/** The principal of a request if it was authenticated; for logs, which must never throw. */
export function maybePrincipalOf(request: Request): Principal | undefined {
  return principals.get(request)
}
