import { apiClient, ApiFailure, ok, type Credential } from '../api'
import { h } from '../dom'
import { describeFailure } from '../session'

/**
 * The login form: an API key, or the admin token with the tenant whose objects
 * to browse. The credential is tried before it is kept, so a wrong one is told
 * apart from a page that shows nothing: a key on GET /v1/usage (which also tells
 * its tenant), the admin token on GET /v1/admin/status.
 */
export function loginPage(onLogin: (credential: Credential) => void, reason?: unknown): HTMLElement {
  const secret = h('input', { type: 'password', name: 'secret', autocomplete: 'off', required: true, spellcheck: 'false' })
  const admin = h('input', { type: 'checkbox', name: 'admin' })
  const tenant = h('input', { type: 'text', name: 'tenant', placeholder: 'e.g. acme', autocomplete: 'off' })
  const tenantRow = h('label', { hidden: true }, 'Tenant (for the object pages)', tenant)
  const message = h('div', { class: 'error', role: 'alert', hidden: true })
  const submit = h('button', { type: 'submit' }, 'Log in')
  admin.addEventListener('change', () => void (tenantRow.hidden = !admin.checked))

  const fail = (error: unknown) => {
    message.replaceChildren(describeFailure(error))
    message.hidden = false
  }
  if (reason !== undefined) fail(reason)

  const form = h(
    'form',
    { class: 'card login', id: 'login' },
    h('h1', {}, 'Log in'),
    h('label', {}, 'API key or admin token', secret),
    h('label', { class: 'inline' }, admin, 'This is the admin token (or a key with admin)'),
    tenantRow,
    message,
    submit,
    h('p', { class: 'muted' }, 'The credential is kept in this tab only (sessionStorage) and sent as an Authorization header.'),
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    message.hidden = true
    submit.disabled = true
    const credential: Credential = { secret: secret.value.trim(), admin: admin.checked, tenant: tenant.value.trim() || undefined }
    try {
      onLogin(await verified(credential))
    } catch (error) {
      fail(error)
    } finally {
      submit.disabled = false
    }
  })
  return form
}

async function verified(credential: Credential): Promise<Credential> {
  const api = apiClient(credential)
  if (credential.admin) {
    await ok(api.GET('/v1/admin/status'))
    return credential
  }
  try {
    const usage = await ok(api.GET('/v1/usage'))
    return { ...credential, tenant: usage.tenant_id }
  } catch (error) {
    // A valid key without objects:read still manages keys; only a rejected one stops here.
    if (error instanceof ApiFailure && error.status === 403) return credential
    throw error
  }
}
