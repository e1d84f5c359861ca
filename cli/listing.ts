import { type Api, ok } from './client'

export type StoredObject = Awaited<ReturnType<typeof listPage>>['objects'][number]

const listPage = (api: Api, namespace: string, prefix: string, cursor: string | undefined) =>
  ok(api.GET('/v1/objects', { params: { query: { namespace, limit: '1000', ...(prefix ? { prefix } : {}), ...(cursor ? { cursor } : {}) } } }))

/** Every object of the namespace whose key starts with `prefix` (all of them for ''), page by page. */
export async function* objectsUnder(api: Api, namespace: string, prefix: string): AsyncGenerator<StoredObject> {
  let cursor: string | undefined
  do {
    const page = await listPage(api, namespace, prefix, cursor)
    yield* page.objects
    cursor = page.next_cursor ?? undefined
  } while (cursor)
}

export async function allUnder(api: Api, namespace: string, prefix: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = []
  for await (const object of objectsUnder(api, namespace, prefix)) objects.push(object)
  return objects
}
