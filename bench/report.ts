/** The run's outcome: one Markdown table against the targets, and the same data as JSON. */
import { directPartBytes, directQueueSize } from './bucket'
import { smallCopyBytes, smallSessionBytes, type LargeResult } from './large'
import { backends, backendTitles, replicasOf, type Backend } from './service'
import type { Limits } from './limits'
import type { Machine } from './machine'
import { searchKinds, type SearchKind } from './list'
import { expiredOf, lifecycleSettings, settingsPhases, settingsPhaseTitles, type SettingsPhase } from './lifecycle'
import { smallPhases, smallPhaseTitles, type SmallPhase } from './small'

export interface BulkMeasurements {
  uploadMiBps: number
  downloadMiBps: number
  uploadPeakRssMiB: number
  downloadPeakRssMiB: number
}

/**
 * Every number measured on one backend; all must be positive and finite. The
 * bulk phases run on directories (bulk) or on a bucket (bucketBulk, the s3
 * backend), and the session and copy phases (large) beside either; the list
 * phases only where the database is the socket's or the embedded one's and the
 * classes are in directories; a phase not run is null.
 */
export interface Measurements {
  bulk: BulkMeasurements | null
  bucketBulk: BulkMeasurements | null
  large: Omit<LargeResult, 'runs'> | null
  small: Record<SmallPhase, { opsPerSec: number; p50Ms: number; p99Ms: number }>
  smallPeakRssMiB: number
  /** 4 KiB phases on a namespace without settings and on one with versioning and quotas, side by side (means of two runs each). */
  settings: Record<SettingsPhase, { plainOpsPerSec: number; lifecycleOpsPerSec: number; plainP99Ms: number; lifecycleP99Ms: number }>
  /** One lifecycle pass over lifecycleObjects objects, 1 % expired, with 4 KiB downloads by id before and during it (where the list phases run). */
  lifecyclePass: { passMs: number; expired: number; getP99WithoutMs: number; getP99DuringMs: number } | null
  list: {
    depth1P50Ms: number
    depth1P99Ms: number
    deepP50Ms: number
    deepP99Ms: number
    /** p99 of each search's first page, matching nothing and matching 1 % of the namespace. */
    searchP99Ms: Record<SearchKind, { none: number; onePercent: number }>
    usageP99Ms: number
    peakRssMiB: number
  } | null
}

/** Every number of a backend's measurements, by a dotted name, for the check that each came out; a phase not run has none. */
export function measuredNumbers(measured: Measurements): [string, number][] {
  const flat = (prefix: string, value: unknown): [string, number][] =>
    value === null ? [] : typeof value === 'object' ? Object.entries(value).flatMap(([name, inner]) => flat(prefix ? `${prefix}.${name}` : name, inner)) : [[prefix, value as number]]
  return flat('', measured)
}

export interface Sizes {
  bulkBytes: number
  bulkRepetitions: number
  bulkDownloadRounds: number
  sessionChunkBytes: number
  largeRepetitions: number
  smallSecs: number
  smallConcurrency: number
  smallSeeded: number
  settingsSecs: number
  lifecycleObjects: number
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
  /** The S3 server of the s3 backend: a throwaway Ceph RGW the bench started, or the one S3_ENDPOINT names. */
  s3Server: string
  sizes: Sizes
  limits: Limits
  measurements: Record<Backend, Measurements>
  /** Peak PSS of the database's processes while the service ran (null: a server the bench does not run). */
  databasePeakPssMiB: Record<Backend, number | null>
  /** What was verified for correctness; a run that failed any of it exits non-zero and writes no results. */
  verification: Record<Backend, { bulkHashesChecked: number; smallUploadsReadBack: number; smallDownloadsReadBack: number }> & {
    bareHashesChecked: number
    /** Direct GETs of the bucket hashed, each against the hash of the body its direct upload sent. */
    directHashesChecked: number
  }
  targets: TargetCheck[]
  details: Record<Backend, unknown>
}

interface Row {
  label: string
  /** The number, or null where the backend does not measure it. */
  value: (measured: Measurements) => number | null
  /** The limit this number is compared with, when there is one. */
  limit?: (limits: Limits) => number
  /** Against the number, the limit and the other measurements: the ratio shown and whether the target holds. */
  target?: { text: string; judge: (value: number, limit: number | undefined, all: Measurements) => { ok: boolean; ratio?: number } }
}

const atLeastOfLimit = (share: number) => ({
  text: `≥ ${share} × limit`,
  judge: (value: number, limit: number | undefined) => ({ ok: value >= share * limit!, ratio: value / limit! }),
})
const atLeast = (floor: number, unit: string) => ({ text: `≥ ${floor.toLocaleString('en-US')} ${unit}`, judge: (value: number) => ({ ok: value >= floor }) })
const atMost = (ceiling: number, unit: string) => ({ text: `≤ ${ceiling} ${unit}`, judge: (value: number) => ({ ok: value <= ceiling }) })
/** A target against another number of the same backend, `what`, whose ratio is shown. */
const atMostTimes = (times: number, what: string, of: (all: Measurements) => number) => ({
  text: `≤ ${times} × ${what}`,
  judge: (value: number, _: number | undefined, all: Measurements) => ({ ok: value <= times * of(all), ratio: value / of(all) }),
})
const sizeText = (bytes: number) => (bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : bytes >= 2 ** 20 ? `${bytes / 2 ** 20} MiB` : `${bytes / 2 ** 10} KiB`)
/** The single-request upload of the same size: on directories, or on the bucket (s3 backend). */
const singleUploadMiBps = (all: Measurements) => (all.bulk ?? all.bucketBulk)!.uploadMiBps

/** What each 4 KiB phase must reach: uploads 5,000/s, replacing and deletes 4,000/s, reads by key within 10 % of reads by id. */
const smallTargets: Record<SmallPhase, { ops: Row['target']; p99?: Row['target'] }> = {
  post: { ops: atLeast(5000, 'ops/s'), p99: atMost(10, 'ms') },
  'post-key': { ops: atLeast(5000, 'ops/s'), p99: atMost(10, 'ms') },
  'put-new': { ops: atLeast(5000, 'ops/s'), p99: atMost(10, 'ms') },
  replace: { ops: atLeast(4000, 'ops/s'), p99: atMost(10, 'ms') },
  'delete-by-key': { ops: atLeast(4000, 'ops/s') },
  'get-by-id': { ops: atLeast(8000, 'ops/s') },
  'get-by-key': {
    ops: { text: '≥ 0.9 × GET by id', judge: (value, _, all) => ({ ok: value >= 0.9 * all.small['get-by-id'].opsPerSec, ratio: value / all.small['get-by-id'].opsPerSec }) },
  },
}

function rows(sizes: Sizes): Row[] {
  const bulk = sizeText(sizes.bulkBytes)
  const depth = sizes.listDepth.toLocaleString('en-US')
  const rss = (phase: string, value: Row['value']): Row => ({ label: `peak RSS, ${phase} (MiB)`, value, target: atMost(150, 'MiB') })
  const small = smallPhases.flatMap((phase): Row[] => [
    {
      label: `4 KiB ${smallPhaseTitles[phase]}, ${sizes.smallConcurrency} connections (ops/s)`,
      value: (m) => m.small[phase].opsPerSec,
      target: smallTargets[phase].ops,
    },
    { label: `4 KiB ${smallPhaseTitles[phase]}, p99 (ms)`, value: (m) => m.small[phase].p99Ms, target: smallTargets[phase].p99 },
  ])
  const objects = sizes.lifecycleObjects.toLocaleString('en-US')
  const settings = settingsPhases.flatMap((phase): Row[] => [
    { label: `4 KiB ${settingsPhaseTitles[phase]}, namespace without settings (ops/s)`, value: (m) => m.settings[phase].plainOpsPerSec },
    {
      label: `4 KiB ${settingsPhaseTitles[phase]}, namespace with versioning and quotas (ops/s)`,
      value: (m) => m.settings[phase].lifecycleOpsPerSec,
      target: {
        text: '≥ 0.9 × without settings',
        judge: (value, _, all) => ({ ok: value >= 0.9 * all.settings[phase].plainOpsPerSec, ratio: value / all.settings[phase].plainOpsPerSec }),
      },
    },
  ])
  return [
    { label: `${bulk} upload (MiB/s)`, value: (m) => m.bulk?.uploadMiBps ?? null, limit: (l) => l.bareUploadMiBps, target: atLeastOfLimit(0.9) },
    { label: `${bulk} download (MiB/s)`, value: (m) => m.bulk?.downloadMiBps ?? null, limit: (l) => l.bareDownloadMiBps, target: atLeastOfLimit(0.9) },
    // On a bucket the limit is the same RGW reached directly from the bench process.
    { label: `${bulk} upload to a bucket (MiB/s)`, value: (m) => m.bucketBulk?.uploadMiBps ?? null, limit: (l) => l.directUploadMiBps, target: atLeastOfLimit(0.8) },
    { label: `${bulk} download from a bucket (MiB/s)`, value: (m) => m.bucketBulk?.downloadMiBps ?? null, limit: (l) => l.directDownloadMiBps, target: atLeastOfLimit(0.9) },
    {
      label: `session upload ${bulk} in ${sizeText(sizes.sessionChunkBytes)} chunks (MiB/s)`,
      value: (m) => m.large?.sessionUploadMiBps ?? null,
      target: { text: '≥ 0.9 × single-request upload', judge: (value, _, all) => ({ ok: value >= 0.9 * singleUploadMiBps(all), ratio: value / singleUploadMiBps(all) }) },
    },
    { label: `complete of a ${sizeText(smallSessionBytes)} session (ms)`, value: (m) => m.large?.completeSmallMs ?? null },
    {
      label: `complete of a ${bulk} session (ms)`,
      value: (m) => m.large?.completeLargeMs ?? null,
      target: atMostTimes(2, `${sizeText(smallSessionBytes)} session`, (all) => all.large!.completeSmallMs),
    },
    { label: `copy of a ${sizeText(smallCopyBytes)} object (ms)`, value: (m) => m.large?.copySmallMs ?? null },
    { label: `copy of a ${bulk} object (ms)`, value: (m) => m.large?.copyLargeMs ?? null, target: atMostTimes(2, `${sizeText(smallCopyBytes)} copy`, (all) => all.large!.copySmallMs) },
    ...small,
    ...settings,
    { label: `lifecycle pass over ${objects} objects, 1 % expired (ms)`, value: (m) => m.lifecyclePass?.passMs ?? null },
    {
      label: `objects expired by the pass over ${objects}`,
      value: (m) => m.lifecyclePass?.expired ?? null,
      target: { text: `= ${expiredOf(sizes.lifecycleObjects).toLocaleString('en-US')} (1 %)`, judge: (value) => ({ ok: value === expiredOf(sizes.lifecycleObjects) }) },
    },
    { label: `4 KiB GET by id, ${sizes.smallConcurrency} in flight, p99 in the ${sizes.smallSecs} s before the pass (ms)`, value: (m) => m.lifecyclePass?.getP99WithoutMs ?? null },
    { label: '4 KiB GET by id, p99 during the pass (ms)', value: (m) => m.lifecyclePass?.getP99DuringMs ?? null },
    {
      label: '4 KiB GET by id, p99 during the pass − before it (ms)',
      value: (m) => (m.lifecyclePass ? m.lifecyclePass.getP99DuringMs - m.lifecyclePass.getP99WithoutMs : null),
      target: atMost(2, 'ms'),
    },
    { label: 'list page at depth 1, p50 (ms)', value: (m) => m.list?.depth1P50Ms ?? null },
    { label: 'list page at depth 1, p99 (ms)', value: (m) => m.list?.depth1P99Ms ?? null, target: atMost(10, 'ms') },
    {
      label: `list page at depth ${depth}, p50 (ms)`,
      value: (m) => m.list?.deepP50Ms ?? null,
      target: { text: '≤ 1.2 × depth 1', judge: (value, _, all) => ({ ok: value <= 1.2 * all.list!.depth1P50Ms, ratio: value / all.list!.depth1P50Ms }) },
    },
    { label: `list page at depth ${depth}, p99 (ms)`, value: (m) => m.list?.deepP99Ms ?? null, target: atMost(10, 'ms') },
    ...searchKinds.flatMap((kind): Row[] =>
      (['none', 'onePercent'] as const).map((share) => ({
        label: `search by ${kind} matching ${share === 'none' ? 'nothing' : '1 %'}, p99 (ms)`,
        value: (m) => m.list?.searchP99Ms[kind][share] ?? null,
        target: atMost(kind === 'key_contains' ? 200 : 50, 'ms'),
      })),
    ),
    { label: `usage of a tenant of ${sizes.listObjects.toLocaleString('en-US')} objects, p99 (ms)`, value: (m) => m.list?.usageP99Ms ?? null, target: atMost(50, 'ms') },
    rss(`${bulk} upload`, (m) => m.bulk?.uploadPeakRssMiB ?? null),
    rss(`${bulk} download`, (m) => m.bulk?.downloadPeakRssMiB ?? null),
    rss(`${bulk} upload to a bucket`, (m) => m.bucketBulk?.uploadPeakRssMiB ?? null),
    rss(`${bulk} download from a bucket`, (m) => m.bucketBulk?.downloadPeakRssMiB ?? null),
    rss('4 KiB phases', (m) => m.smallPeakRssMiB),
    rss(`list (${sizes.listObjects.toLocaleString('en-US')} objects)`, (m) => m.list?.peakRssMiB ?? null),
  ]
}

/** Every target, judged on each backend: the embedded default must meet what a PostgreSQL server does. */
export function checkTargets(sizes: Sizes, limitsBeside: (backend: Backend) => Limits, measurements: Record<Backend, Measurements>): TargetCheck[] {
  return rows(sizes)
    .filter((row) => row.target)
    .flatMap((row) =>
      backends.flatMap((backend) => {
        const value = row.value(measurements[backend])
        if (value === null) return []
        const verdict = row.target!.judge(value, row.limit?.(limitsBeside(backend)), measurements[backend])
        return [{ measurement: row.label, backend, value, target: row.target!.text, ratio: verdict.ratio ?? null, ok: verdict.ok }]
      }),
    )
}

const number = (n: number) => (n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2))

export const tableHeader = `| measurement | ${backends.map((b) => backendTitles[b]).join(' | ')} | limit | ratio | target | ok? |`

export function markdownTable(results: Results): string {
  const lines = [tableHeader, `|---|${backends.map(() => '---:|').join('')}---:|---:|---|---|`]
  // Ratio and verdict per backend that measures the row, in the column order.
  const perBackend = (checks: TargetCheck[], cell: (check: TargetCheck) => string) => checks.map(cell).join(' / ')
  for (const row of rows(results.sizes)) {
    const checks = backends.map((b) => results.targets.find((t) => t.measurement === row.label && t.backend === b)).filter((t) => t !== undefined)
    const limit = row.limit?.(results.limits)
    const cells = [
      row.label,
      ...backends.map((b) => {
        const value = row.value(results.measurements[b])
        return value === null ? '—' : number(value)
      }),
      limit === undefined ? '' : number(limit),
      checks.some((c) => c.ratio !== null) ? perBackend(checks, (c) => c.ratio?.toFixed(2) ?? '') : '',
      checks[0]?.target ?? '',
      perBackend(checks, (c) => (c.ok ? 'ok' : 'MISSED')),
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  const emptyBackends = backends.map(() => '').join(' | ')
  const limitOnly = (label: string, value: number) => `| ${label} | ${emptyBackends} | ${number(value)} |  |  |  |`
  lines.push(limitOnly('durable 4 KiB puts, bare (ops/s)', results.limits.durablePutOpsPerSec))
  lines.push(limitOnly('upload client ceiling, server discards (MiB/s)', results.limits.uploadClientMiBps))
  lines.push(limitOnly('SHA-256 in process (MiB/s)', results.limits.sha256MiBps))
  const pss = backends.map((b) => results.databasePeakPssMiB[b]).map((v) => (v === null ? 'n/a' : number(v)))
  lines.push(`| database processes, peak PSS (MiB), beside the service's RSS | ${pss.join(' | ')} |  |  |  |  |`)
  return lines.join('\n')
}

/** How the numbers that are not self-explanatory were measured, to print under the table. */
export function tableNotes(results: Results): string {
  const s = results.sizes
  const pairs = (n: number) => `${n} pair${n === 1 ? '' : 's'}`
  return [
    'Notes:',
    `- ${backendTitles.s3}: the service on the bench's PostgreSQL server (Unix socket) with both storage classes on a fresh bucket of ${results.s3Server}.`,
    `- Bucket rows: the limit is the same server reached directly from the bench process with Bun's S3Client: one multipart upload of a streamed body ` +
      `(${directPartBytes / 2 ** 20} MiB parts, ${directQueueSize} in flight) and one GET streamed and hashed. Direct and service runs alternate (direct, service; service, direct; …); medians of ` +
      `${pairs(s.bulkRepetitions)} of uploads and ${pairs(s.bulkRepetitions * s.bulkDownloadRounds)} of downloads. Downloads through the service are timed ` +
      'the same way (fetch, streamed and hashed here); on directories they are timed with curl to /dev/null.',
    `- 4 KiB phases on ${backendTitles.s3}: ${replicasOf('s3')} replicas of the service on one database and one bucket, driven by one wrk with a thread per replica ` +
      `and ${s.smallConcurrency / replicasOf('s3')} of the ${s.smallConcurrency} connections each; the rate and the percentiles are wrk's over both threads, the peak RSS is ` +
      'the larger replica\'s. Bodies up to INLINE_MAX_BYTES (64 KiB by default) are kept in the database, so these phases put no 4 KiB object in the bucket.',
    `- Session and copy rows, wherever the bulk phases run: medians of ${s.largeRepetitions}. A session upload is timed from its creation to its complete request's answer, ` +
      `its chunks streamed by fetch one PATCH at a time, and set beside the same backend's single-request upload; each session sends bytes of its own. A complete is its request alone; ` +
      `the small session is one chunk. A copy is POST /v1/objects with X-Copy-Source into the source's class (hot), of a session's object and of a ${sizeText(smallCopyBytes)} one.`,
    `- List phases run only on PostgreSQL (socket) and embedded: listing reads the database alone.`,
    `- Namespace settings rows, on every backend: the same wrk runs as the 4 KiB phases, on a namespace without settings and on one with ` +
      `${JSON.stringify(lifecycleSettings)} (every upload then takes a quota hold before its commit; a replaced key keeps its old version, so that namespace grows), ` +
      `${s.settingsSecs} s each in the order plain, settings, settings, plain; means of the two runs of each.`,
    `- Lifecycle pass rows, where the list phases run: ${s.lifecycleObjects.toLocaleString('en-US')} objects written into the database, every hundredth expired a minute before ` +
      `(each with a 4 KiB blob of its own); one POST /v1/admin/lifecycle timed from request to answer. The GETs by id (of ${s.smallSeeded.toLocaleString('en-US')} uploaded objects) come ` +
      `from ${s.smallConcurrency} fetch loops in the bench process, not wrk, so their p99 is not the GET by id row's; "before" is the ${s.smallSecs} s preceding the pass, ` +
      '"during" every GET in flight at any instant of it.',
  ].join('\n')
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
    `Sizes: bulk ${s.bulkBytes / 2 ** 20} MiB × ${s.bulkRepetitions} uploads, each downloaded ${s.bulkDownloadRounds} times (medians), sessions, completes and copies × ${s.largeRepetitions}, 4 KiB phases ${s.smallSecs} s at ${s.smallConcurrency} connections ` +
      `(${s.smallSeeded.toLocaleString('en-US')} seeded for downloads), beside namespace settings ${s.settingsSecs} s × 4, list over ${s.listObjects.toLocaleString('en-US')} objects, ` +
      `lifecycle pass over ${s.lifecycleObjects.toLocaleString('en-US')}`,
    `Targets are judged on every backend: ${results.targets.filter((t) => t.ok).length} of ${results.targets.length} met (${backends
      .map((b) => `${backendTitles[b]} ${results.targets.filter((t) => t.backend === b && t.ok).length}/${results.targets.filter((t) => t.backend === b).length}`)
      .join(', ')}).`,
  ].join('\n')
}
