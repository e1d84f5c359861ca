import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ApiError } from '../errors'
import { unstorableText, unstorableTextAt } from '../identifiers'

/**
 * Every body but an upload's is a small JSON document (a search, a new key):
 * read whole to be parsed, it must be small, or one request could take the
 * process's memory.
 */
export const maxJsonBodyBytes = 64 * 1024

const tooLarge = () => new ApiError('payload_too_large', `A request body other than an upload is at most ${maxJsonBodyBytes} bytes`)

/** Refuses a body declared larger than the cap, before a byte of it is read. */
export function refuseDeclaredOversize(headers: Headers): void {
  if (Number(headers.get('content-length') ?? 0) > maxJsonBodyBytes) throw tooLarge()
}

/**
 * A route `parse` hook for JSON bodies, checked strictly against a plain
 * TypeBox schema: Elysia's own validation would coerce "5" into 5 and drop
 * unknown fields, and a typo must be an error, not a wider request.
 */
export function strictJson(schema: TSchema) {
  return async ({ request }: { request: Request }) => {
    const type = request.headers.get('content-type') ?? ''
    if (!/^application\/json\s*(;|$)/i.test(type)) throw new ApiError('unsupported_media_type', 'Send the body as application/json')
    const text = await readCapped(request)
    let value: unknown
    try {
      value = JSON.parse(text)
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

/** How the document shows a body strictJson parses: the generator cannot see through a parse hook. */
export const jsonRequestBody = (schema: TSchema) => ({ required: true, content: { 'application/json': { schema } } })

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** The body as text, counted as it streams: a chunked body has no length to check up front. */
async function readCapped(request: Request): Promise<string> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of request.body ?? []) {
    size += chunk.byteLength
    if (size > maxJsonBodyBytes) throw tooLarge()
    chunks.push(chunk)
  }
  try {
    return utf8.decode(Buffer.concat(chunks))
  } catch {
    throw new ApiError('bad_request', 'The body is not valid UTF-8')
  }
}
