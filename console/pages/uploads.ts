import { count, ok } from '../api'
import { confirmButton, formatBytes, formatTime, h, table } from '../dom'
import { guarded, type Session } from '../session'

/**
 * Resumable upload sessions still open, in every namespace the tenant has
 * (GET /v1/uploads lists one namespace at a time) and in one the user names,
 * since a namespace holding only sessions has no objects to be known by yet.
 */
export async function uploadsPage(session: Session, params: URLSearchParams): Promise<Node> {
  if (session.credential.admin && !session.credential.tenant) return h('p', { class: 'muted' }, 'Upload sessions belong to a tenant: log in again naming the tenant.')
  const named = params.get('namespace')?.trim().toLowerCase()
  const { namespaces } = await ok(session.api.GET('/v1/namespaces'))
  const names = [...new Set([...namespaces.map((row) => row.namespace), ...(named ? [named] : [])])]
  const lists = await Promise.all(names.map((namespace) => ok(session.api.GET('/v1/uploads', { params: { query: { namespace, limit: 1000 } } }))))
  const uploads = lists.flatMap((list) => list.uploads)

  const other = h('input', { type: 'text', name: 'namespace', placeholder: 'another namespace', value: named ?? '' })
  const form = h('form', { class: 'row' }, h('label', { class: 'inline' }, 'Also look in', other), h('button', { type: 'submit' }, 'Show'))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    location.hash = `#/uploads?${new URLSearchParams({ namespace: other.value.trim() })}`
  })
  return h(
    'div',
    {},
    form,
    table(
      ['Namespace', 'Key', 'Received', 'Length', 'Started', 'Expires', ''],
      uploads,
      (upload) => [
        upload.namespace,
        upload.key ?? '(no key)',
        formatBytes(upload.offset),
        upload.length === null ? 'unknown' : `${formatBytes(upload.length)} (${Math.floor((count(upload.offset) / Math.max(1, count(upload.length))) * 100)} %)`,
        formatTime(upload.created_at),
        formatTime(upload.expires_at),
        confirmButton('Cancel', 'Really cancel?', guarded(session, async () => {
          await ok(session.api.DELETE('/v1/uploads/{id}', { params: { path: { id: upload.id } } }))
          session.refresh()
        })),
      ],
      'No upload in flight.',
    ),
  )
}
