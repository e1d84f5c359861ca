import { createPublicKey, type KeyObject } from 'node:crypto'
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { ApiError } from '../errors'
import { parseNamespace, parseTenant } from '../identifiers'
import { remoteKeySet } from './jwks'
import { permissions as knownPermissions, type Permission, type Principal } from './principal'

/** Verifies bearer JWTs with jose: HS256 (JWT_SECRET), or RS256/ES256/EdDSA from JWKS_URL or a PEM. */

export interface JwtSettings {
  secret?: string
  jwksUrl?: string
  publicKeyPem?: string
  issuer?: string
  audience?: string
  /** How long after its fetch a key set still verifies tokens while JWKS_URL cannot be fetched; 0 when unset. */
  jwksMaxStaleSecs?: number
}

export type JwtVerifier = (token: string) => Promise<Principal>

export const looksLikeJwt = (secret: string): boolean => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(secret)

const asymmetric = ['RS256', 'ES256', 'EdDSA']

export function jwtVerifier(settings: JwtSettings): JwtVerifier | null {
  const keys: { key: Uint8Array | KeyObject | JWTVerifyGetKey; algorithms: string[] }[] = []
  if (settings.secret) keys.push({ key: new TextEncoder().encode(settings.secret), algorithms: ['HS256'] })
  if (settings.jwksUrl) keys.push({ key: remoteKeySet(new URL(settings.jwksUrl), (settings.jwksMaxStaleSecs ?? 0) * 1000), algorithms: asymmetric })
  if (settings.publicKeyPem) keys.push({ key: createPublicKey(settings.publicKeyPem), algorithms: asymmetric })
  if (keys.length === 0) return null

  return async (token) => {
    const alg = headerAlg(token)
    const candidate = keys.find((k) => k.algorithms.includes(alg))
    if (!candidate) throw invalid('the token is signed with an algorithm this service does not accept')
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, candidate.key as Uint8Array, {
        algorithms: candidate.algorithms,
        issuer: settings.issuer,
        audience: settings.audience,
        requiredClaims: ['exp'],
      }))
    } catch (error) {
      if (error instanceof errors.JOSEError) throw invalid(error.code === 'ERR_JWT_EXPIRED' ? 'the token has expired' : 'the token is not valid')
      throw error
    }
    return principalOfClaims(payload)
  }
}

function headerAlg(token: string): string {
  try {
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'))
    return typeof header.alg === 'string' ? header.alg : ''
  } catch {
    throw invalid('the token header is malformed')
  }
}

function invalid(why: string): ApiError {
  return new ApiError('unauthenticated', `Bearer token rejected: ${why}`, { 'www-authenticate': 'Bearer error="invalid_token"' })
}

/** Claims: tenant_id, permissions (array) or scope (space-separated), optional namespaces. */
function principalOfClaims(payload: JWTPayload): Principal {
  const claimed = Array.isArray(payload.permissions)
    ? payload.permissions
    : typeof payload.scope === 'string'
      ? payload.scope.split(' ').filter(Boolean)
      : []
  const granted = claimed.filter((p): p is Permission => typeof p === 'string' && (knownPermissions as readonly string[]).includes(p))
  let tenantId: string | null = null
  if (payload.tenant_id !== undefined) {
    if (typeof payload.tenant_id !== 'string') throw invalid('tenant_id must be a string')
    tenantId = claim(() => parseTenant(payload.tenant_id as string))
  }
  if (tenantId === null && !granted.includes('admin')) throw invalid('the token names no tenant_id')
  let namespaces: Set<string> | null = null
  if (payload.namespaces !== undefined) {
    if (!Array.isArray(payload.namespaces) || payload.namespaces.some((n) => typeof n !== 'string')) throw invalid('namespaces must be a list')
    namespaces = new Set((payload.namespaces as string[]).map((n) => claim(() => parseNamespace(n))))
  }
  // exp is a required claim, checked by jwtVerify.
  return { kind: 'jwt', id: `jwt:${tenantId ?? 'admin'}:${payload.sub ?? 'anonymous'}`, tenantId, permissions: new Set(granted), namespaces, expiresAt: payload.exp! * 1000 }
}

/** A signed claim that is not a valid identifier makes the token unusable: 401, not a 400 about the request. */
function claim<T>(parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (error instanceof ApiError) throw invalid(error.message)
    throw error
  }
}
