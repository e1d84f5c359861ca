import { ok } from '../api'
import { formatBytes, formatTime, h, table } from '../dom'
import { describeFailure, guarded, type Session } from '../session'
import { usageView } from '../usage'

const runnable = {
  gc: '/v1/admin/gc',
  scrub: '/v1/admin/scrub',
  lifecycle: '/v1/admin/lifecycle',
} as const

/** Background jobs with "run now", the audit trail, and any tenant's usage. */
export async function adminPage(session: Session): Promise<Node> {
  const [status, audit] = await Promise.all([ok(session.api.GET('/v1/admin/status')), auditView(session)])
  const results = h('div', { class: 'run-result', 'aria-live': 'polite' })
  const run = (job: keyof typeof runnable) =>
    h('button', {
      type: 'button',
      'data-job': job,
      onclick: guarded(session, async () => {
        results.replaceChildren(h('p', { class: 'muted' }, `Running ${job}…`))
        const outcome = (await ok(session.api.POST(runnable[job]))) as Record<string, unknown>
        results.replaceChildren(
          h('h3', {}, `${job} finished`),
          table(['Result', 'Value'], Object.entries(outcome), ([name, value]) => [name, h('code', {}, typeof value === 'object' ? JSON.stringify(value) : String(value))]),
          h('button', { type: 'button', onclick: () => session.refresh() }, 'Refresh status'),
        )
      }),
    }, `Run ${job} now`)

  return h(
    'div',
    {},
    h('h2', {}, 'Background jobs'),
    table(['Job', 'Last started', 'Last finished', 'Outcome', 'Next run here', ''], Object.entries(status.jobs), ([job, state]) => [
      job,
      formatTime(state.last_run?.started_at),
      formatTime(state.last_run?.finished_at),
      state.last_run ? outcomeOf(state.last_run) : 'never',
      formatTime(state.next_run_at),
      job in runnable ? run(job as keyof typeof runnable) : '',
    ]),
    results,
    h('h2', {}, 'Queues'),
    table(['Queue', 'Count'], Object.entries(status.queues), ([name, value]) => [name.replaceAll('_', ' '), String(value)]),
    h('h2', {}, 'Disks'),
    table(['Storage', 'Path', 'Free', 'Total'], Object.entries(status.disks), ([name, disk]) => [name, h('code', {}, disk.path), formatBytes(disk.free_bytes), formatBytes(disk.total_bytes)], 'No storage class on a directory.'),
    tenantUsage(session),
    h('h2', {}, 'Audit log'),
    audit,
  )
}

/** A run's result counts, or what made it fail. */
function outcomeOf(run: { outcome: Record<string, unknown> | null; error: string | null }): HTMLElement {
  if (run.error !== null) return h('span', { class: 'outcome failed' }, `failed: ${run.error}`)
  const counts = Object.entries(run.outcome ?? {}).map(([name, value]) => `${name.replaceAll('_', ' ')} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
  return h('span', { class: 'outcome ok' }, counts.join(', ') || 'done')
}

function tenantUsage(session: Session): HTMLElement {
  const tenant = h('input', { type: 'text', name: 'tenant_id', required: true, value: session.credential.tenant ?? '', placeholder: 'tenant' })
  const shown = h('div', {})
  const form = h('form', { class: 'card', id: 'tenant-usage' }, h('h2', {}, 'Usage of a tenant'), h('div', { class: 'row' }, tenant, h('button', { type: 'submit' }, 'Show usage')), shown)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void (async () => {
      try {
        shown.replaceChildren(await usageView(session, tenant.value.trim()))
      } catch (error) {
        shown.replaceChildren(h('p', { class: 'error' }, describeFailure(error)))
      }
    })()
  })
  return form
}

async function auditView(session: Session): Promise<HTMLElement> {
  const rows = h('tbody', {})
  const more = h('button', { type: 'button', hidden: true }, 'Older events')
  const load = async (cursor?: string) => {
    const page = await ok(session.api.GET('/v1/admin/audit', { params: { query: { limit: 50, cursor } } }))
    for (const event of page.events) {
      rows.append(h('tr', {}, ...[formatTime(event.at), event.actor, event.tenant_id ?? '—', event.action, event.target ?? '—', event.request_id ?? '—'].map((cell) => h('td', {}, cell))))
    }
    more.hidden = page.next_cursor === null
    more.onclick = guarded(session, () => load(page.next_cursor ?? undefined))
  }
  await load()
  return h(
    'div',
    { class: 'audit' },
    h('table', {}, h('thead', {}, h('tr', {}, ...['At', 'Actor', 'Tenant', 'Action', 'Target', 'Request'].map((title) => h('th', {}, title)))), rows),
    more,
  )
}
