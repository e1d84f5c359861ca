import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { registry } from '../../core/metrics'
import { adminToken, startServer, type TestServer } from '../support/server'

const root = resolve(import.meta.dir, '../..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')

type Json = Record<string, any>

const dashboard: Json = JSON.parse(read('k8s/grafana-dashboard.json'))
const allPanels: Json[] = dashboard.panels
const rows = allPanels.filter((panel) => panel.type === 'row')
const panels = allPanels.filter((panel) => panel.type !== 'row')
const variables: Json[] = dashboard.templating?.list ?? []
/** Every PromQL expression of the dashboard, with where it is. */
const targets = panels.flatMap((panel) => (panel.targets as Json[]).map((target) => ({ panel, target, expr: target.expr as string })))
const variableQueries = variables
  .filter((variable) => variable.type === 'query')
  .map((variable) => ({ variable, expr: (typeof variable.query === 'string' ? variable.query : variable.query?.query) as string }))
const dashboardExprs = [...targets.map(({ panel, expr }) => ({ where: `panel ${panel.id} "${panel.title}"`, expr })), ...variableQueries.map(({ variable, expr }) => ({ where: `variable $${variable.name}`, expr }))]

/**
 * The juststorage_ identifiers of a PromQL expression (or a Grafana variable
 * query such as label_values(metric, label)), in order of appearance. Quoted
 * strings (label values, regexes), # comments and Grafana variables ($pod,
 * ${DS_PROMETHEUS}, $__rate_interval) are skipped, so a label value that looks
 * like a metric name is not taken for one.
 */
function metricIdentifiers(expr: string): string[] {
  const found: string[] = []
  let i = 0
  while (i < expr.length) {
    const c = expr[i]!
    if (c === '"' || c === "'" || c === '`') {
      i++
      while (i < expr.length && expr[i] !== c) i += c !== '`' && expr[i] === '\\' ? 2 : 1
      i++
    } else if (c === '#') {
      while (i < expr.length && expr[i] !== '\n') i++
    } else if (c === '$') {
      i++
      if (expr[i] === '{') while (i < expr.length && expr[i - 1] !== '}') i++
      else while (i < expr.length && /\w/.test(expr[i]!)) i++
    } else if (/[0-9]/.test(c)) {
      // Numbers and durations (0.99, 1e3, 5m, 1h30m).
      while (i < expr.length && /[\w.]/.test(expr[i]!)) i++
    } else if (/[A-Za-z_:]/.test(c)) {
      const start = i
      while (i < expr.length && /[\w:]/.test(expr[i]!)) i++
      const word = expr.slice(start, i)
      if (word.startsWith('juststorage_')) found.push(word)
    } else {
      i++
    }
  }
  return found
}

/** The metric family an identifier names: a histogram's (or summary's) _bucket, _sum and _count series are its own; any other name is itself. */
function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue
    const base = name.slice(0, -suffix.length)
    const type = types.get(base)
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base
  }
  return name
}

/** Label names an expression groups or matches by: by/without/on/ignoring/group_* lists and {label op "value"} matchers. */
function labelsUsed(expr: string): string[] {
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""').replace(/\$\{[^}]*\}|\$\w+/g, '')
  const labels: string[] = []
  for (const match of bare.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    labels.push(...match[1]!.split(',').map((label) => label.trim()).filter(Boolean))
  }
  for (const match of bare.matchAll(/\{([^}]*)\}/g)) {
    for (const matcher of match[1]!.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.push(matcher[1]!)
  }
  return labels
}

/** `# TYPE name type` lines: every family the service exports, samples or not. */
function exportedTypes(text: string): Map<string, string> {
  const types = new Map<string, string>()
  for (const match of text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) types.set(match[1]!, match[2]!)
  return types
}

/**
 * The labels a family has once Prometheus has scraped it through the
 * ServiceMonitor: its own (a histogram's `le` too), with `namespace` renamed
 * `exported_namespace` (the target's own labels win, honorLabels being off),
 * and the target labels the operator adds.
 */
const targetLabels = ['namespace', 'pod', 'instance', 'job', 'service', 'endpoint', 'container']
function scrapedLabels(family: string, types: Map<string, string>): string[] {
  const metric = registry.getSingleMetric(family) as unknown as { labelNames?: string[] } | undefined
  const own = (metric?.labelNames ?? []).map((label) => (targetLabels.includes(label) ? `exported_${label}` : label))
  return [...own, ...(types.get(family) === 'histogram' ? ['le'] : []), ...targetLabels]
}

const ruleExprs: { where: string; expr: string }[] = parseAllDocuments(read('k8s/prometheusrule.yaml'))
  .map((document) => {
    if (document.errors.length > 0) throw new Error(document.errors.map((e) => e.message).join('; '))
    return document.toJS() as Json | null
  })
  .filter((doc): doc is Json => doc?.kind === 'PrometheusRule')
  .flatMap((doc) => (doc.spec.groups as Json[]).flatMap((group) => (group.rules as Json[]).map((rule) => ({ where: `${group.name}/${rule.alert ?? rule.record}`, expr: String(rule.expr) }))))

describe('the metric name tokenizer', () => {
  const types = new Map([
    ['juststorage_h_seconds', 'histogram'],
    ['juststorage_c_count', 'counter'],
  ])

  test('finds juststorage_ identifiers, not label values, variables, durations or comments', () => {
    const expr = `sum by (le) (rate(juststorage_h_seconds_bucket{pod=~"$pod", route="juststorage_not_a_metric", x='juststorage_nor_this'}[$__rate_interval]))
      / on (pod) group_left juststorage_c_count # juststorage_commented_out
      + ignoring(\${juststorage_var}) juststorage_g[5m] offset 1h30m * 0.99e1 + label_values(juststorage_lv, tenant)`
    expect(metricIdentifiers(expr)).toEqual(['juststorage_h_seconds_bucket', 'juststorage_c_count', 'juststorage_g', 'juststorage_lv'])
    expect(metricIdentifiers('rate(other_metric[5m]) + juststorage_a:recorded + xjuststorage_b')).toEqual(['juststorage_a:recorded'])
  })

  test('strips _bucket/_sum/_count only from histogram series', () => {
    expect(['juststorage_h_seconds_bucket', 'juststorage_h_seconds_sum', 'juststorage_h_seconds_count', 'juststorage_c_count', 'juststorage_x_bucket'].map((name) => familyOf(name, types))).toEqual([
      'juststorage_h_seconds',
      'juststorage_h_seconds',
      'juststorage_h_seconds',
      'juststorage_c_count',
      'juststorage_x_bucket',
    ])
  })

  test('reads grouping and matcher labels', () => {
    expect(labelsUsed('sum by (le, route) (rate(m{status=~"5..", pod!="a}b"}[$__rate_interval])) / ignoring(kind) max without (instance) (n)').sort()).toEqual(
      ['instance', 'kind', 'le', 'pod', 'route', 'status'].sort(),
    )
  })
})

describe('k8s/grafana-dashboard.json', () => {
  test('is an importable dashboard that asks for its Prometheus data source', () => {
    expect(dashboard).toMatchObject({ title: expect.any(String), uid: expect.stringMatching(/^[\w-]{1,40}$/), editable: true })
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36)
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41)
    expect(dashboard.id ?? null).toBeNull()
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })])
    expect(dashboard.__requires).toContainEqual(expect.objectContaining({ type: 'datasource', id: 'prometheus' }))
    const prometheus = { type: 'prometheus', uid: '${DS_PROMETHEUS}' }
    for (const panel of panels) expect([panel.title, panel.datasource]).toEqual([panel.title, prometheus])
    for (const { panel, target } of targets) expect([panel.title, target.datasource]).toEqual([panel.title, prometheus])
    for (const { variable } of variableQueries) expect([variable.name, variable.datasource]).toEqual([variable.name, prometheus])
  })

  test('has a pod and a tenant variable, and every variable an expression names exists', () => {
    const names = variables.map((variable) => variable.name)
    expect(names).toContain('pod')
    expect(names).toContain('tenant')
    for (const { variable, expr } of variableQueries) expect([variable.name, expr]).toEqual([variable.name, expect.stringMatching(/^label_values\(juststorage_\w+, \w+\)$/)])
    const known = new Set([...names, '__rate_interval', '__interval', '__range'])
    const unknown = targets.flatMap(({ panel, expr }) => [...expr.matchAll(/\$\{?(\w+)/g)].map((m) => m[1]!).filter((name) => !known.has(name)).map((name) => `${panel.title}: $${name}`))
    expect(unknown).toEqual([])
    // Panels follow the pod selection.
    for (const { panel, expr } of targets) expect([panel.title, expr]).toEqual([panel.title, expect.stringMatching(/pod=~"\$pod"|max without \(instance, pod\)/)])
  })

  test('panels have unique ids, a type, a title, a unit and targets with an expression and unique refIds', () => {
    const ids = allPanels.map((panel) => panel.id)
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    expect(panels.length).toBeGreaterThanOrEqual(20)
    const units = new Set(['bytes', 'Bps', 'reqps', 's', 'percentunit', 'short'])
    for (const panel of panels) {
      expect([panel.id, panel.type]).toEqual([panel.id, expect.stringMatching(/^(timeseries|stat|gauge|table|bargauge)$/)])
      expect([panel.id, panel.title]).toEqual([panel.id, expect.stringMatching(/\S/)])
      expect([panel.title, units.has(panel.fieldConfig?.defaults?.unit)]).toEqual([panel.title, true])
      const list = panel.targets as Json[]
      expect([panel.title, list.length > 0]).toEqual([panel.title, true])
      for (const target of list) expect([panel.title, target.expr]).toEqual([panel.title, expect.stringMatching(/juststorage_/)])
      expect(new Set(list.map((target) => target.refId)).size).toBe(list.length)
    }
    const titles = panels.map((panel) => panel.title)
    expect(titles.filter((title, i) => titles.indexOf(title) !== i)).toEqual(['GC queue depth'])
  })

  test('every panel sits on the 24-column grid, none overlaps another, and each is under a row', () => {
    for (const panel of allPanels) {
      const { x, y, w, h } = panel.gridPos ?? {}
      expect([panel.title, [x, y, w, h].every(Number.isInteger)]).toEqual([panel.title, true])
      expect([panel.title, x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 24]).toEqual([panel.title, true])
    }
    const overlaps: string[] = []
    allPanels.forEach((a, i) =>
      allPanels.slice(i + 1).forEach((b) => {
        const [p, q] = [a.gridPos, b.gridPos]
        if (p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h) overlaps.push(`${a.title} / ${b.title}`)
      }),
    )
    expect(overlaps).toEqual([])
    expect(rows.length).toBeGreaterThanOrEqual(8)
    for (const row of rows) expect([row.title, row.gridPos.w, row.gridPos.h, row.collapsed, row.panels]).toEqual([row.title, 24, 1, false, []])
    const rowTops = rows.map((row) => row.gridPos.y).sort((a, b) => a - b)
    expect(rowTops[0]).toBe(0)
    for (const panel of panels) {
      const { y, h } = panel.gridPos
      const next = rowTops.find((top) => top > y) ?? Infinity
      expect([panel.title, y + h <= next]).toEqual([panel.title, true])
    }
    // No empty row.
    for (const top of rowTops) expect(panels.some((panel) => panel.gridPos.y === top + 1)).toBe(true)
  })

  test('covers every area: one expression per required metric family, grouped and in the units asked for', () => {
    const grouped = (expr: string, labels: string[]) => labels.every((label) => new RegExp(`\\b(?:by|without)\\s*\\([^)]*\\b${label}\\b`).test(expr) || /max without \(instance, pod\)/.test(expr))
    const areas: { area: string; unit?: string; test: (expr: string) => boolean }[] = [
      { area: 'request rate by route', unit: 'reqps', test: (e) => /rate\(juststorage_requests_total\{pod=~"\$pod"\}/.test(e) && grouped(e, ['route']) && !e.includes('status') },
      { area: '5xx rate by route', unit: 'reqps', test: (e) => e.includes('juststorage_requests_total{pod=~"$pod", status=~"5.."}') && grouped(e, ['route']) && !e.includes(' / ') },
      { area: '4xx rate by route', unit: 'reqps', test: (e) => e.includes('juststorage_requests_total{pod=~"$pod", status=~"4.."}') && grouped(e, ['route']) },
      { area: 'latency p50 by route', unit: 's', test: (e) => e.startsWith('histogram_quantile(0.5, ') && e.includes('rate(juststorage_request_duration_seconds_bucket') && grouped(e, ['le', 'route']) },
      { area: 'latency p99 by route', unit: 's', test: (e) => e.startsWith('histogram_quantile(0.99, ') && e.includes('rate(juststorage_request_duration_seconds_bucket') && grouped(e, ['le', 'route']) },
      { area: 'bytes in by storage class', unit: 'Bps', test: (e) => e.includes('rate(juststorage_upload_bytes_total') && grouped(e, ['storage_class']) },
      { area: 'bytes out by storage class', unit: 'Bps', test: (e) => e.includes('rate(juststorage_download_bytes_total') && grouped(e, ['storage_class']) },
      { area: 'stored bytes logical vs physical', unit: 'bytes', test: (e) => e.includes('juststorage_storage_bytes') && grouped(e, ['storage_class', 'kind']) },
      { area: 'objects by tenant', unit: 'short', test: (e) => e.includes('juststorage_objects') && /sum by \(tenant\)/.test(e) },
      { area: 'GC runs', test: (e) => e.includes('increase(juststorage_gc_runs_total') },
      { area: 'GC failures', test: (e) => e.includes('increase(juststorage_gc_failures_total') },
      { area: 'GC deleted blobs', test: (e) => e.includes('juststorage_gc_deleted_blobs_total') },
      { area: 'GC unremovable files', test: (e) => e.includes('juststorage_gc_unremovable_files_total') },
      { area: 'GC reclaimed bytes', unit: 'bytes', test: (e) => e.includes('juststorage_gc_reclaimed_bytes_total') },
      { area: 'scrub corrupt blobs', test: (e) => e.includes('increase(juststorage_scrub_corrupt_blobs_total') },
      { area: 'GC queue depth', unit: 'short', test: (e) => e.includes('juststorage_gc_queue_depth') },
      { area: 'disk free fraction', unit: 'percentunit', test: (e) => e.includes('juststorage_storage_root_free_bytes{pod=~"$pod"} / juststorage_storage_root_size_bytes{pod=~"$pod"}') },
      { area: 'disk free bytes', unit: 'bytes', test: (e) => e === 'juststorage_storage_root_free_bytes{pod=~"$pod"}' },
      { area: 'lifecycle expired', test: (e) => e.includes('juststorage_lifecycle_expired_objects_total') },
      { area: 'lifecycle pruned', test: (e) => e.includes('juststorage_lifecycle_pruned_versions_total') },
      { area: 'lifecycle moved', test: (e) => e.includes('juststorage_lifecycle_moved_to_cold_total') },
      { area: 'lifecycle failures', test: (e) => e.includes('juststorage_lifecycle_failures_total') },
      { area: 'quota use by tenant, namespace, kind', unit: 'percentunit', test: (e) => /juststorage_quota_used\{[^}]*\}\) \/ .*juststorage_quota_limit/.test(e) && !/by \(/.test(e) },
      { area: 'byte quota used vs limit', unit: 'bytes', test: (e) => /juststorage_quota_(used|limit)\{[^}]*kind="bytes"/.test(e) },
      { area: 'rate limited', unit: 'reqps', test: (e) => e.includes('juststorage_rate_limited_total') && grouped(e, ['limit']) },
      { area: 'backend errors', unit: 'reqps', test: (e) => e.includes('rate(juststorage_storage_backend_errors_total') && grouped(e, ['backend', 'operation']) },
      { area: 'backend request rate', unit: 'reqps', test: (e) => e.includes('rate(juststorage_storage_backend_request_duration_seconds_count') },
      { area: 'backend latency p99', unit: 's', test: (e) => e.startsWith('histogram_quantile(0.99, ') && e.includes('juststorage_storage_backend_request_duration_seconds_bucket') && grouped(e, ['le', 'operation']) },
      { area: 'resident memory', unit: 'bytes', test: (e) => e.includes('juststorage_process_resident_memory_bytes') },
    ]
    const missing = areas
      .filter(({ unit, test }) => !targets.some(({ panel, expr }) => test(expr) && (unit === undefined || panel.fieldConfig.defaults.unit === unit)))
      .map(({ area, unit }) => `${area}${unit ? ` (${unit})` : ''}`)
    expect(missing).toEqual([])
    // Rates are per-second over Grafana's rate interval, never a fixed window.
    for (const { panel, expr } of targets) {
      for (const range of expr.matchAll(/\[([^\]]*)\]/g)) expect([panel.title, range[1]]).toEqual([panel.title, '$__rate_interval'])
    }
  })
})

describe('against the metrics a running server exports', () => {
  let server: TestServer
  let types: Map<string, string>
  const asAdmin = { authorization: `Bearer ${adminToken}` }

  beforeAll(async () => {
    server = await startServer('postgres')
    const call = async (path: string, init: RequestInit, status: number) => {
      const response = await fetch(`${server.url}${path}`, { ...init, headers: { ...asAdmin, ...(init.headers as Record<string, string>) } })
      expect([path, response.status]).toEqual([path, status])
      return response
    }
    const body = 'dashboard body '.repeat(40)
    const { id } = (await (await call('/v1/objects/by-key/x/acme/a', { method: 'PUT', body }, 201)).json()) as { id: string }
    expect(await (await call(`/v1/objects/${id}?tenant_id=acme`, {}, 200)).text()).toBe(body)
    await call(`/v1/objects/${crypto.randomUUID()}?tenant_id=acme`, {}, 404)
    await call('/v1/namespaces/x?tenant_id=acme', { method: 'PUT', body: JSON.stringify({ quota_objects: 10 }), headers: { 'content-type': 'application/json' } }, 200)
    await call('/v1/objects/by-key/x/acme/a', { method: 'DELETE' }, 204)
    await call('/v1/admin/gc', { method: 'POST' }, 200)
    await call('/v1/admin/lifecycle', { method: 'POST' }, 200)
    await server.refreshMetrics()
    const text = await (await call('/metrics', {}, 200)).text()
    types = exportedTypes(text)
    // The quota gauges have their sample: the refresh saw the namespace quota.
    expect(text).toMatch(/^juststorage_quota_limit\{[^}]*kind="objects"[^}]*\} 10$/m)
  })
  afterAll(async () => {
    await server?.stop()
  })

  test('the scrape names the families core/metrics.ts defines, with their types', () => {
    expect(types.get('juststorage_requests_total')).toBe('counter')
    expect(types.get('juststorage_request_duration_seconds')).toBe('histogram')
    expect(types.get('juststorage_storage_backend_request_duration_seconds')).toBe('histogram')
    expect(types.get('juststorage_quota_used')).toBe('gauge')
    expect([...types.keys()].filter((name) => !name.startsWith('juststorage_'))).toEqual([])
  })

  test('every metric the dashboard uses is one the service exports', () => {
    const used = dashboardExprs.flatMap(({ where, expr }) => metricIdentifiers(expr).map((name) => ({ where, name, family: familyOf(name, types) })))
    expect(used.length).toBeGreaterThan(50)
    expect(used.filter(({ family }) => !types.has(family)).map(({ where, name }) => `${where}: ${name}`)).toEqual([])
    // _bucket only where there are buckets: histogram_quantile of a histogram.
    expect(used.filter(({ name, family }) => name !== family && types.get(family) !== 'histogram').map(({ where, name }) => `${where}: ${name}`)).toEqual([])
  })

  test('every label the dashboard groups or matches by is one its metrics carry once scraped', () => {
    const wrong = dashboardExprs.flatMap(({ where, expr }) => {
      const families = metricIdentifiers(expr).map((name) => familyOf(name, types))
      const known = new Set(families.flatMap((family) => scrapedLabels(family, types)))
      return labelsUsed(expr).filter((label) => !known.has(label)).map((label) => `${where}: ${label}`)
    })
    expect(wrong).toEqual([])
    // Variables read labels their metric has.
    for (const { variable, expr } of variableQueries) {
      const [, metric, label] = /^label_values\((\w+), (\w+)\)$/.exec(expr)!
      expect([variable.name, scrapedLabels(metric!, types)]).toEqual([variable.name, expect.arrayContaining([label])])
    }
  })

  test('every metric the alert rules name is one the service exports', () => {
    expect(ruleExprs.length).toBeGreaterThanOrEqual(6)
    const used = ruleExprs.flatMap(({ where, expr }) => metricIdentifiers(expr).map((name) => ({ where, name, family: familyOf(name, types) })))
    for (const { where, expr } of ruleExprs) expect([where, metricIdentifiers(expr).length > 0]).toEqual([where, true])
    expect(used.filter(({ family }) => !types.has(family)).map(({ where, name }) => `${where}: ${name}`)).toEqual([])
    const wrong = ruleExprs.flatMap(({ where, expr }) => {
      const known = new Set(metricIdentifiers(expr).flatMap((name) => scrapedLabels(familyOf(name, types), types)))
      return labelsUsed(expr).filter((label) => !known.has(label)).map((label) => `${where}: ${label}`)
    })
    expect(wrong).toEqual([])
  })
})
