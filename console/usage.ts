import { count, ok } from './api'
import { usageChart } from './chart'
import { formatBytes, h, table } from './dom'
import type { Session } from './session'

/** A tenant's usage from GET /v1/usage: totals, quotas, and a chart per namespace and storage class. */
export async function usageView(session: Session, tenant?: string): Promise<HTMLElement> {
  const usage = await ok(session.api.GET('/v1/usage', { params: { query: tenant === undefined ? {} : { tenant_id: tenant } } }))
  const quota = (used: string | number, limit: string | number | null, format: (value: number) => string) =>
    limit === null ? format(count(used)) : `${format(count(used))} of ${format(count(limit))}`
  return h(
    'section',
    { class: 'usage' },
    h(
      'p',
      {},
      'Tenant ',
      h('code', {}, usage.tenant_id),
      `: ${quota(usage.objects, usage.quota_objects, String)} objects, `,
      `${quota(usage.logical_bytes, usage.quota_bytes, formatBytes)} logical, ${formatBytes(usage.physical_bytes)} physical (deduplicated across namespaces).`,
    ),
    usageChart(usage.by_namespace.map((row) => ({ label: `${row.namespace} · ${row.storage_class}`, logical: count(row.logical_bytes), physical: count(row.physical_bytes) }))),
    usage.namespace_quotas.length === 0
      ? ''
      : table(['Namespace quota', 'Objects', 'Logical bytes'], usage.namespace_quotas, (row) => [
          row.namespace,
          quota(row.objects, row.quota_objects, String),
          quota(row.logical_bytes, row.quota_bytes, formatBytes),
        ]),
  )
}
