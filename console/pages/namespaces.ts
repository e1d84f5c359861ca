import { count, ok } from '../api'
import { formatBytes, h, table } from '../dom'
import type { Session } from '../session'
import { usageView } from '../usage'
import { objectsRoute } from './objects'

/** The tenant's namespaces with their settings and usage, and the usage chart. */
export async function namespacesPage(session: Session): Promise<Node> {
  const [{ namespaces }, usage] = await Promise.all([ok(session.api.GET('/v1/namespaces')), usageView(session)])
  const setting = (value: string | number | boolean | null, unit = '') => (value === null ? '—' : `${value}${unit}`)
  return h(
    'div',
    {},
    usage,
    h('h2', {}, 'Namespaces'),
    table(
      ['Namespace', 'Objects', 'Logical', 'Physical', 'Versioning', 'Default expiry', 'Cold after idle', 'Quota'],
      namespaces,
      (row) => [
        h('a', { href: objectsRoute(row.namespace, '') }, row.namespace),
        String(count(row.usage.objects)),
        formatBytes(row.usage.logical_bytes),
        formatBytes(row.usage.physical_bytes),
        row.versioning ? `on (keep ${setting(row.keep_versions)})` : 'off',
        setting(row.default_expires_in, ' s'),
        setting(row.cold_after_idle_secs, ' s'),
        [row.quota_bytes === null ? '' : formatBytes(row.quota_bytes), row.quota_objects === null ? '' : `${row.quota_objects} objects`].filter(Boolean).join(', ') || '—',
      ],
      'No namespaces yet: upload an object into one from the Objects page.',
    ),
  )
}
