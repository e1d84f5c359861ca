import { usageError } from '../errors'
import { type Command, connect, print, type Values } from '../command'
import { count, ok, type JsonBody } from '../client'
import { formatBytes } from '../progress'

const table = (rows: string[][]): string => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n')
}

export const usage: Command = {
  usage: 'usage',
  options: {},
  async run(positionals, values) {
    if (positionals.length > 0) throw usageError('usage takes no arguments')
    const { api, settings } = connect(values)
    const report = await ok(api.GET('/v1/usage', { params: { query: settings.tenant ? { tenant_id: settings.tenant } : {} } }))
    print(values, report, () => {
      const quota = (used: number, limit: string | number | null, format: (n: number) => string) => (limit === null ? format(used) : `${format(used)} of ${format(count(limit))}`)
      const head = `tenant ${report.tenant_id}: ${quota(count(report.objects), report.quota_objects, String)} objects, ${quota(count(report.logical_bytes), report.quota_bytes, formatBytes)} logical, ${formatBytes(count(report.physical_bytes))} physical`
      if (report.by_namespace.length === 0) return head
      const rows = report.by_namespace.map((row) => [row.namespace, row.storage_class, String(count(row.objects)), formatBytes(count(row.logical_bytes)), formatBytes(count(row.physical_bytes))])
      return `${head}\n${table([['NAMESPACE', 'CLASS', 'OBJECTS', 'LOGICAL', 'PHYSICAL'], ...rows])}`
    })
  },
}

const list = (text: Values[string]): string[] | undefined =>
  typeof text === 'string' ? text.split(',').map((item) => item.trim()).filter(Boolean) : undefined

export const keys: Command = {
  usage: 'keys create --name N --permissions objects:read,objects:write [--namespaces a,b] [--expires-at <RFC 3339>]\nkeys ls\nkeys revoke <id>',
  options: { name: { type: 'string' }, permissions: { type: 'string' }, namespaces: { type: 'string' }, 'expires-at': { type: 'string' } },
  async run(positionals, values) {
    const [action, ...rest] = positionals
    const { api, settings } = connect(values)
    if (action === 'create' && rest.length === 0) {
      const permissions = list(values.permissions)
      if (typeof values.name !== 'string' || !permissions?.length) throw usageError('keys create needs --name and --permissions')
      const body: JsonBody<'/v1/api-keys', 'post'> = { name: values.name, permissions, namespaces: list(values.namespaces), tenant_id: settings.tenant, expires_at: values['expires-at'] as string | undefined }
      const created = await ok(api.POST('/v1/api-keys', { body }))
      print(values, created, () => `created key ${created.id} (${created.name}, tenant ${created.tenant_id}); it is shown only now:\n${created.key}`)
    } else if (action === 'ls' && rest.length === 0) {
      const all = []
      let cursor: string | undefined
      do {
        const page = await ok(api.GET('/v1/api-keys', { params: { query: cursor ? { cursor } : {} } }))
        all.push(...page.api_keys)
        cursor = page.next_cursor ?? undefined
      } while (cursor)
      if (values.json) for (const key of all) console.log(JSON.stringify(key))
      else if (!values.quiet && all.length > 0) {
        const rows = all.map((key) => [key.id, key.name, key.tenant_id, key.permissions.join(','), key.namespaces?.join(',') ?? '*', key.expires_at ?? '-', key.last_used_at ?? '-'])
        console.log(table([['ID', 'NAME', 'TENANT', 'PERMISSIONS', 'NAMESPACES', 'EXPIRES', 'LAST USED'], ...rows]))
      }
    } else if (action === 'revoke' && rest.length === 1) {
      await ok(api.DELETE('/v1/api-keys/{id}', { params: { path: { id: rest[0]! } } }))
      print(values, { revoked: rest[0] }, () => `revoked ${rest[0]}`)
    } else {
      throw usageError('keys create|ls|revoke <id>')
    }
  },
}

export const admin: Command = {
  usage: 'admin gc|scrub|lifecycle|status',
  options: {},
  async run(positionals, values) {
    if (positionals.length !== 1) throw usageError('admin gc|scrub|lifecycle|status')
    const { api } = connect(values)
    const calls: Record<string, () => Promise<unknown>> = {
      gc: () => ok(api.POST('/v1/admin/gc')),
      scrub: () => ok(api.POST('/v1/admin/scrub')),
      lifecycle: () => ok(api.POST('/v1/admin/lifecycle')),
      status: () => ok(api.GET('/v1/admin/status')),
    }
    const call = calls[positionals[0]!]
    if (!call) throw usageError(`admin ${positionals[0]}: not one of gc, scrub, lifecycle, status`)
    const answer = await call()
    print(values, answer, () => JSON.stringify(answer, null, 2))
  },
}
