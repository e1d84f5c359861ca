import { principalOf } from '../core/auth/authenticate'
import { isAdmin } from '../core/auth/principal'
import { ApiError } from '../core/errors'

/**
 * beforeHandle for /v1/admin routes: any principal holding `admin` (the admin
 * token, or an API key or JWT granted it). The app has already authenticated
 * every /v1 request, so a missing credential is a 401 before this runs.
 */
export function requireAdmin({ request }: { request: Request }): void {
  if (!isAdmin(principalOf(request))) throw new ApiError('forbidden', 'This credential lacks the admin permission')
}
