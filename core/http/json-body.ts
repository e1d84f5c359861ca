import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ApiError } from '../errors'
import { unstorableText, unstorableTextAt } from '../identifiers'

/**
 * A route `parse` hook for JSON bodies, checked strictly against a plain
 * TypeBox schema: Elysia's own validation would coerce "5" into 5 and drop
 * unknown fields, and a typo must be an error, not a wider request.
 */
export function strictJson(schema: TSchema) {
  return async ({ request }: { request: Request }) => {
    const type = request.headers.get('content-type') ?? ''
    if (!/^application\/json\s*(;|$)/i.test(type)) throw new ApiError('unsupported_media_type', 'Send the body as application/json')
    let value: unknown
    try {
      value = await request.json()
    } catch {
      throw new ApiError('bad_request', 'The body is not valid JSON')
    }
    const problem = Value.Errors(schema, value).First()
    if (problem) throw new ApiError('bad_request', `${problem.path.slice(1) || 'body'}: ${problem.message}`)
    const unstorable = unstorableTextAt(value)
    if (unstorable !== null) throw new ApiError('bad_request', `body: ${unstorableText(unstorable)}`)
    return value
  }
}
