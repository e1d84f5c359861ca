import { ApiError } from '../core/errors'
import { presentedSecret, secretsEqual } from '../core/admin-token'

/** beforeHandle for /v1/admin routes: only the admin token passes. */
export function requireAdminToken(adminToken: string) {
  return ({ request }: { request: Request }) => {
    const secret = presentedSecret(request.headers)
    if (secret === null || !secretsEqual(secret, adminToken)) {
      throw new ApiError('unauthenticated', 'An admin credential is required', { 'www-authenticate': 'Bearer' })
    }
  }
}
