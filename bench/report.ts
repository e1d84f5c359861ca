/** The run's outcome: one Markdown table against the targets, and the same data as JSON. */
import { backends, backendTitles, type Backend } from './service'
import type { Limits } from './limits'
import type { Machine } from './machine'

/** Every number measured on each backend; all must be positive and finite. */
export interface Measurements {
  bulkUploadMiBps: number
  bulkDownloadMiBps: number
  smallUploadOpsPerSec: number
  smallUploadP50Ms: number
  smallUploadP99Ms: number
  smallDownloadOpsPerSec: number
  smallDownloadP50Ms: number
  smallDownloadP99Ms: number
  listDepth1P50Ms: number
  listDepth1P99Ms: number
  listDeepP50Ms: number
  listDeepP99Ms: number
  peakRssBulkUploadMiB: number
  peakRssBulkDownloadMiB: number
  peakRssSmallUploadMiB: number
  peakRssSmallDownloadMiB: number
  peakRssListMiB: number
}

export interface Sizes {
  bulkBytes: number
  bulkRepetitions: number
  bulkDownloadRounds: number
  smallSecs: number
  smallConcurrency: number
  smallSeeded: number
  listObjects: number
  listDepth: number
}

export interface TargetCheck {
  measurement: string
  backend: Backend
  value: number
  target: string
  ratio: number | null
  ok: boolean
}

export interface Results {
  startedAt: string
  finishedAt: string
  smoke: boolean
  machine: Machine
  sizes: Sizes
  limits: Limits
  measurements: Record<Backend, Measurements>
  /** Peak PSS of the database's processes while the service ran (null: a server the bench does not run). */
  databasePeakPssMiB: Record<Backend, number | null>
  /** What was verified for correctness; a run that failed any of it exits non-zero and writes no results. */
  verification: Record<Backend, { bulkHashesChecked: number; smallUploadsReadBack: number; smallDownloadsReadBack: number }> & { bareHashesChecked: number }
  targets: TargetCheck[]
  details: Record<Backend, unknown>
}

interface Row {
  label: string
  key: keyof Measurements
  /** The limit this number is compared with, when there is one. */
  limit?: (limits: Limits) => number
  /** Against PostgreSQL's number, the limit and the other measurements: the ratio shown and whether the target holds. */
  target?: { text: string; judge: (value: number, limit: number | undefined, all: Measurements) => { ok: boolean; ratio?: number } }
}

const atLeastOfLimit = (share: number) => ({
  text: `≥ ${share} × limit`,
  judge: (value: number, limit: number | undefined) => ({ ok: value >= share * limit!, ratio: value / limit! }),
})
const atLeast = (floor: number, unit: string) => ({ text: `≥ ${floor.toLocaleString('en-US')} ${unit}`, judge: (value: number) => ({ ok: value >= floor }) })
const atMost = (ceiling: number, unit: string) => ({ text: `≤ ${ceiling} ${unit}`, judge: (value: number) => ({ ok: value <= ceiling }) })

function rows(sizes: Sizes): Row[] {
  const bulk = sizes.bulkBytes >= 2 ** 30 ? `${sizes.bulkBytes / 2 ** 30} GiB` : `${sizes.bulkBytes / 2 ** 20} MiB`
  const depth = sizes.listDepth.toLocaleString('en-US')
  const rss = (phase: string, key: keyof Measurements): Row => ({ label: `peak RSS, ${phase} (MiB)`, key, target: atMost(150, 'MiB') })
  return [
    { label: `${bulk} upload (MiB/s)`, key: 'bulkUploadMiBps', limit: (l) => l.bareUploadMiBps, target: atLeastOfLimit(0.9) },
    { label: `${bulk} download (MiB/s)`, key: 'bulkDownloadMiBps', limit: (l) => l.bareDownloadMiBps, target: atLeastOfLimit(0.9) },
    {
      label: `4 KiB upload, ${sizes.smallConcurrency} connections (ops/s)`,
      key: 'smallUploadOpsPerSec',
      limit: (l) => l.durablePutOpsPerSec,
      target: { ...atLeast(2700, 'ops/s'), judge: (value, limit) => ({ ok: value >= 2700, ratio: value / limit! }) },
    },
    { label: '4 KiB upload p50 (ms)', key: 'smallUploadP50Ms' },
    { label: '4 KiB upload p99 (ms)', key: 'smallUploadP99Ms', target: atMost(10, 'ms') },
    { label: `4 KiB download, ${sizes.smallConcurrency} connections (ops/s)`, key: 'smallDownloadOpsPerSec', target: atLeast(8000, 'ops/s') },
    { label: '4 KiB download p50 (ms)', key: 'smallDownloadP50Ms' },
    { label: '4 KiB download p99 (ms)', key: 'smallDownloadP99Ms' },
    { label: 'list page at depth 1, p50 (ms)', key: 'listDepth1P50Ms' },
    { label: 'list page at depth 1, p99 (ms)', key: 'listDepth1P99Ms', target: atMost(10, 'ms') },
    {
      label: `list page at depth ${depth}, p50 (ms)`,
      key: 'listDeepP50Ms',
      target: { text: '≤ 1.2 × depth 1', judge: (value, _, all) => ({ ok: value <= 1.2 * all.listDepth1P50Ms, ratio: value / all.listDepth1P50Ms }) },
    },
    { label: `list page at depth ${depth}, p99 (ms)`, key: 'listDeepP99Ms', target: atMost(10, 'ms') },
    rss(`${bulk} upload`, 'peakRssBulkUploadMiB'),
    rss(`${bulk} download`, 'peakRssBulkDownloadMiB'),
    rss('4 KiB upload', 'peakRssSmallUploadMiB'),
    rss('4 KiB download', 'peakRssSmallDownloadMiB'),
    rss(`list (${sizes.listObjects.toLocaleString('en-US')} objects)`, 'peakRssListMiB'),
  ]
}

/** Every target, judged on each backend: the embedded default must meet what a PostgreSQL server does. */
export function checkTargets(sizes: Sizes, limitsBeside: (backend: Backend) => Limits, measurements: Record<Backend, Measurements>): TargetCheck[] {
  return rows(sizes)
    .filter((row) => row.target)
    .flatMap((row) =>
      backends.map((backend) => {
        const value = measurements[backend][row.key]
        const verdict = row.target!.judge(value, row.limit?.(limitsBeside(backend)), measurements[backend])
        return { measurement: row.label, backend, value, target: row.target!.text, ratio: verdict.ratio ?? null, ok: verdict.ok }
      }),
    )
}

const number = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2))

export const tableHeader = `| measurement | ${backends.map((b) => backendTitles[b]).join(' | ')} | limit | ratio | target | ok? |`

export function markdownTable(results: Results): string {
  const lines = [tableHeader, `|---|${backends.map(() => '---:|').join('')}---:|---:|---|---|`]
  // Ratio and verdict per backend, in the column order.
  const perBackend = (checks: TargetCheck[], cell: (check: TargetCheck) => string) => checks.map(cell).join(' / ')
  for (const row of rows(results.sizes)) {
    const checks = backends.map((b) => results.targets.find((t) => t.measurement === row.label && t.backend === b)).filter((t) => t !== undefined)
    const limit = row.limit?.(results.limits)
    const cells = [
      row.label,
      ...backends.map((b) => number(results.measurements[b][row.key])),
      limit === undefined ? '' : number(limit),
      checks.some((c) => c.ratio !== null) ? perBackend(checks, (c) => c.ratio?.toFixed(2) ?? '') : '',
      checks[0]?.target ?? '',
      perBackend(checks, (c) => (c.ok ? 'ok' : 'MISSED')),
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  const emptyBackends = backends.map(() => '').join(' | ')
  const limitOnly = (label: string, value: number) => `| ${label} | ${emptyBackends} | ${number(value)} |  |  |  |`
  lines.push(limitOnly('upload client ceiling, server discards (MiB/s)', results.limits.uploadClientMiBps))
  lines.push(limitOnly('SHA-256 in process (MiB/s)', results.limits.sha256MiBps))
  const pss = backends.map((b) => results.databasePeakPssMiB[b]).map((v) => (v === null ? 'n/a' : number(v)))
  lines.push(`| database processes, peak PSS (MiB), beside the service's RSS | ${pss.join(' | ')} |  |  |  |  |`)
  return lines.join('\n')
}

export function machineLine(machine: Machine): string {
  return (
    `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}, scratch on ${machine.scratchFilesystem}, ` +
    `Bun ${machine.bun}, load average ${machine.loadAverageAtStart} at start`
  )
}

export function describeRun(results: Results): string {
  const s = results.sizes
  const title = backends.map((b) => backendTitles[b]).join(' and ')
  return [
    `${results.smoke ? 'Smoke run' : 'Full run'} on ${title}, ${results.finishedAt}`,
    `Machine: ${machineLine(results.machine)}`,
    `Sizes: bulk ${s.bulkBytes / 2 ** 20} MiB × ${s.bulkRepetitions} uploads, each downloaded ${s.bulkDownloadRounds} times (medians), 4 KiB phases ${s.smallSecs} s at ${s.smallConcurrency} connections ` +
      `(${s.smallSeeded.toLocaleString('en-US')} seeded for downloads), list over ${s.listObjects.toLocaleString('en-US')} objects`,
    `Targets are judged on every backend: ${results.targets.filter((t) => t.ok).length} of ${results.targets.length} met (${backends
      .map((b) => `${backendTitles[b]} ${results.targets.filter((t) => t.backend === b && t.ok).length}/${results.targets.filter((t) => t.backend === b).length}`)
      .join(', ')}).`,
  ].join('\n')
}
