import { ok, type JsonBody } from '../api'
import { confirmButton, formatTime, h, table } from '../dom'
import { guarded, type Session } from '../session'

const permissions = ['objects:read', 'objects:write', 'objects:delete', 'keys:manage', 'admin']

/** The tenant's API keys: list, create (the secret shown once) and revoke. */
export async function keysPage(session: Session): Promise<Node> {
  const keys = []
  let cursor: string | undefined
  do {
    const page = await ok(session.api.GET('/v1/api-keys', { params: { query: { limit: 1000, cursor } } }))
    keys.push(...page.api_keys)
    cursor = page.next_cursor ?? undefined
  } while (cursor)
  return h(
    'div',
    {},
    createForm(session),
    h('h2', {}, 'Keys'),
    table(['Name', 'Tenant', 'Permissions', 'Namespaces', 'Expires', 'Last used', 'Created', ''], keys, (key) => [
      key.name,
      key.tenant_id,
      key.permissions.join(', '),
      key.namespaces?.join(', ') ?? 'all',
      formatTime(key.expires_at),
      formatTime(key.last_used_at),
      formatTime(key.created_at),
      confirmButton('Revoke', 'Really revoke?', guarded(session, async () => {
        await ok(session.api.DELETE('/v1/api-keys/{id}', { params: { path: { id: key.id } } }))
        session.refresh()
      })),
    ], 'No API keys.'),
  )
}

function createForm(session: Session): HTMLElement {
  const shown = h('div', { class: 'secret', hidden: true })
  const boxes = permissions.map((permission) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'permissions', value: permission, checked: permission.startsWith('objects:') }), permission))
  const form = h(
    'form',
    { class: 'card', id: 'create-key' },
    h('h2', {}, 'Create a key'),
    h('div', { class: 'fields' },
      h('label', {}, 'Name', h('input', { type: 'text', name: 'name', required: true, maxlength: 200 })),
      session.credential.admin ? h('label', {}, 'Tenant', h('input', { type: 'text', name: 'tenant_id', value: session.credential.tenant ?? '', required: true })) : '',
      h('label', {}, 'Namespaces (comma separated; empty: all)', h('input', { type: 'text', name: 'namespaces' })),
      h('label', {}, 'Expires at (optional)', h('input', { type: 'datetime-local', name: 'expires_at' })),
    ),
    h('fieldset', {}, h('legend', {}, 'Permissions'), ...boxes),
    h('button', { type: 'submit' }, 'Create'),
    shown,
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const data = new FormData(form)
    const text = (name: string) => String(data.get(name) ?? '').trim()
    const body: JsonBody<'/v1/api-keys', 'post'> = { name: text('name'), permissions: data.getAll('permissions').map(String) }
    if (text('tenant_id')) body.tenant_id = text('tenant_id')
    if (text('namespaces')) body.namespaces = text('namespaces').split(',').map((name) => name.trim()).filter(Boolean)
    if (text('expires_at')) body.expires_at = new Date(text('expires_at')).toISOString()
    void guarded(session, async () => {
      const created = await ok(session.api.POST('/v1/api-keys', { body }))
      // The secret is in this answer only: shown here until the page changes, never stored.
      const secret = h('input', { type: 'text', readonly: true, value: created.key, class: 'new-secret', 'aria-label': 'The new key' })
      const list = h('button', { type: 'button', onclick: () => session.refresh() }, 'Done, I have copied it')
      shown.replaceChildren(h('p', {}, h('strong', {}, `Key “${created.name}” created.`), ' Copy its secret now: it is not shown again.'), secret, list)
      shown.hidden = false
      form.reset()
      secret.select()
    })()
  })
  return form
}
