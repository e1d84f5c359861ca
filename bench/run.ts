/**
 * `bun run bench`: the service's throughput, latency and memory on a
 * PostgreSQL server, on its embedded default and with its storage classes on a
 * bucket of a Ceph RGW the bench starts, against the limits of the bare
 * machine and of the RGW reached directly, in one run. Prints a
 * Markdown table and writes the numbers as JSON (bench/results.json, or --json <path>).
 * `--smoke` (or BENCH_SMOKE=1) runs every phase on every backend at toy sizes, in a few minutes at most.
 *
 * Exits 0 when everything measured was correct, whether or not targets were
 * met; non-zero on any wrong byte, hash, error response or failed phase.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import type { Child } from '../tests/support/child'
import { sharedS3, stopSharedS3 } from '../tests/support/ceph'
import { startPostgres } from '../tests/support/postgres'
import { emptyBucket, measureBucketBulk, type BucketBulkResult } from './bucket'
import { measureBulk, median, type BulkResult } from './bulk'
import { blobPath } from '../core/store/paths'
import { measureLarge, type LargeResult } from './large'
import { measureLifecyclePass, measureSettings, passServiceEnv, seedLifecycleObjects, settingsPhases, type LifecyclePassResult } from './lifecycle'
import { measureLimits, type Limits } from './limits'
import { measureList, searchKinds, seedListObjects, type SearchKind } from './list'
import { currentLoadAverage, describeMachine } from './machine'
import { parseOptions, type BenchOptions } from './options'
import { ensureTool, settleDisks } from './processes'
import { checkTargets, describeRun, markdownTable, measuredNumbers, tableNotes, type Measurements, type Results } from './report'
import { backends, backendTitles, freshInstance, replicasOf, startService, type Backend, type BenchCluster, type Instance } from './service'
import { clusterPssMiB } from './rss'
import { measureSmall, smallPhases, type SmallResult } from './small'

const progress = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`)

interface BackendRun {
  measurements: Measurements
  databasePeakPssMiB: number | null
  /** The bare runs made beside this backend's bulk phases on directories (none over TCP or on a bucket). */
  bare: BulkResult['bare']
  /** The direct runs against the bucket made beside the s3 backend's bulk phases. */
  direct: BucketBulkResult['direct']
  directHashesChecked: number
  verification: Results['verification'][Backend]
  details: unknown
}

/**
 * Runs `phase` against a service (its replicas), attaching the service's own
 * output to any failure, while the peak memory of its database's processes is
 * kept in `peak`; stops the replicas at the end.
 */
async function withService<T>(replicas: Child[], clusterDir: string | undefined, peak: { databasePssMiB: number | null }, phase: () => Promise<T>): Promise<T> {
  const sample = () => {
    if (clusterDir === undefined) return
    try {
      peak.databasePssMiB = Math.max(peak.databasePssMiB ?? 0, clusterPssMiB(clusterDir))
    } catch {
      // between a postmaster's exit and its successor's start
    }
  }
  const timer = setInterval(sample, 250)
  try {
    return await phase()
  } catch (error) {
    const outputs = replicas.map((r, i) => `--- service${replicas.length > 1 ? ` replica ${i + 1}` : ''} output (last 4 KiB) ---\n${r.output().slice(-4096)}`)
    throw new Error(`${(error as Error).message}\n${outputs.join('\n')}`)
  } finally {
    clearInterval(timer)
    sample()
    for (const replica of replicas) await replica.stop()
  }
}

/** All the replicas of a backend's instance (one database, one bucket); none left running if one fails to start. */
async function startReplicas(instance: Instance): Promise<Child[]> {
  const replicas: Child[] = []
  try {
    for (let replica = 0; replica < replicasOf(instance.backend); replica++) replicas.push(await startService(instance, replica))
  } catch (error) {
    for (const started of replicas) await started.stop()
    throw error
  }
  return replicas
}

/**
 * Over TCP only the 4 KiB phases run (with their counterparts on a namespace
 * with lifecycle settings): the transport is what they compare, and the bulk,
 * list and lifecycle pass phases would only repeat the socket's. On a bucket (s3)
 * the bulk phases run beside the same RGW reached directly, and the 4 KiB
 * phases on two replicas; the list phases, which read the database alone,
 * would only repeat the socket's.
 */
async function measureBackend(backend: Backend, options: BenchOptions, cluster: BenchCluster): Promise<BackendRun> {
  const title = backendTitles[backend]
  const full = backend === 'postgres' || backend === 'embedded'
  await settleDisks(options.smoke ? 2 : 30)
  const instance = await freshInstance(backend, options.workRoot, cluster)
  const replicas = await startReplicas(instance)
  const service = replicas[0]!
  // The embedded default's cluster lives in the data directory; the other backends use the bench's own cluster.
  const clusterDir = (of: Instance) => (backend === 'embedded' ? `${of.dataDir}/pg` : cluster.dir)
  const peak = { databasePssMiB: null as number | null }
  const { bulk, bucketBulk, large, small, settings } = await withService(replicas, clusterDir(instance), peak, async () => {
    let bulk: BulkResult | null = null
    let bucketBulk: BucketBulkResult | null = null
    let large: LargeResult | null = null
    if (full) {
      progress(`${title}: ${options.bulkBytes / 2 ** 20} MiB uploads × ${options.bulkRepetitions}, downloads × ${options.bulkRepetitions * options.bulkDownloadRounds}, each beside the bare pipeline`)
      const roots = { hot: `${instance.dataDir}/hot`, cold: `${instance.dataDir}/cold` }
      bulk = await measureBulk(service, options, (hex) => blobPath(roots, 'hot', hex))
      progress(`${title}: letting the disk settle`)
      await settleDisks(options.smoke ? 2 : 30)
    }
    if (instance.bucket !== undefined) {
      progress(`${title}: ${options.bulkBytes / 2 ** 20} MiB uploads × ${options.bulkRepetitions}, downloads × ${options.bulkRepetitions * options.bulkDownloadRounds}, each beside the same RGW directly`)
      bucketBulk = await measureBucketBulk(service, options, cluster.s3.client(instance.bucket))
      progress(`${title}: letting the disk settle`)
      await settleDisks(options.smoke ? 2 : 30)
    }
    // Beside the bulk phases, on the same storage: a session's upload is judged against their single-request one.
    if (bulk || bucketBulk) {
      progress(`${title}: ${options.bulkBytes / 2 ** 20} MiB sessions in ${options.sessionChunkBytes / 2 ** 20} MiB chunks, completes and copies × ${options.largeRepetitions}`)
      large = await measureLarge(service, options)
      progress(`${title}: letting the disk settle`)
      await settleDisks(options.smoke ? 2 : 30)
    }
    progress(`${title}: 4 KiB writes, deletes and reads, ${options.smallSecs} s each${replicas.length > 1 ? `, on ${replicas.length} replicas` : ''}`)
    const small = await measureSmall(replicas, options, instance.dataDir)
    progress(`${title}: 4 KiB writes and reads without and with namespace settings, ${options.settingsSecs} s × 4 each`)
    const settings = await measureSettings(replicas, options, instance.dataDir)
    return { bulk, bucketBulk, large, small, settings }
  })
  rmSync(instance.dataDir, { recursive: true, force: true })
  if (instance.bucket !== undefined) await emptyBucket(cluster.s3, instance.bucket)

  let list: Awaited<ReturnType<typeof measureList>> | null = null
  if (full) {
    progress(`${title}: seeding ${options.listObjects.toLocaleString('en-US')} objects for listing`)
    const listInstance = await freshInstance(backend, options.workRoot, cluster)
    await seedListObjects(listInstance, options.listObjects)
    await settleDisks(options.smoke ? 2 : 30)
    const listService = await startService(listInstance)
    progress(`${title}: list pages at depth 1 and ${options.listDepth.toLocaleString('en-US')}`)
    list = await withService([listService], clusterDir(listInstance), peak, () => measureList(listService, options))
    rmSync(listInstance.dataDir, { recursive: true, force: true })
  }

  let lifecyclePass: LifecyclePassResult | null = null
  if (full) {
    progress(`${title}: seeding ${options.lifecycleObjects.toLocaleString('en-US')} objects, 1 % expired, for a lifecycle pass`)
    const passInstance = await freshInstance(backend, options.workRoot, cluster)
    passInstance.env = { ...passInstance.env, ...passServiceEnv }
    await seedLifecycleObjects(passInstance, options.lifecycleObjects)
    await settleDisks(options.smoke ? 2 : 30)
    const passService = await startService(passInstance)
    progress(`${title}: 4 KiB GETs by id for ${options.smallSecs} s, then during one lifecycle pass`)
    lifecyclePass = await withService([passService], clusterDir(passInstance), peak, () => measureLifecyclePass(passService, options))
    rmSync(passInstance.dataDir, { recursive: true, force: true })
  }

  return {
    measurements: {
      bulk: bulk && {
        uploadMiBps: bulk.uploadMiBps,
        downloadMiBps: bulk.downloadMiBps,
        uploadPeakRssMiB: bulk.uploadPeakRssMiB,
        downloadPeakRssMiB: bulk.downloadPeakRssMiB,
      },
      bucketBulk: bucketBulk && {
        uploadMiBps: bucketBulk.uploadMiBps,
        downloadMiBps: bucketBulk.downloadMiBps,
        uploadPeakRssMiB: bucketBulk.uploadPeakRssMiB,
        downloadPeakRssMiB: bucketBulk.downloadPeakRssMiB,
      },
      large: large && {
        sessionUploadMiBps: large.sessionUploadMiBps,
        completeLargeMs: large.completeLargeMs,
        completeSmallMs: large.completeSmallMs,
        copyLargeMs: large.copyLargeMs,
        copySmallMs: large.copySmallMs,
      },
      small: smallMeasurements(small),
      smallPeakRssMiB: Math.max(...smallPhases.map((phase) => small.phases[phase].peakRssMiB)),
      settings: Object.fromEntries(
        settingsPhases.map((phase) => {
          const { plain, lifecycle } = settings.phases[phase]
          return [phase, { plainOpsPerSec: plain.opsPerSec, lifecycleOpsPerSec: lifecycle.opsPerSec, plainP99Ms: plain.p99Ms, lifecycleP99Ms: lifecycle.p99Ms }]
        }),
      ) as Measurements['settings'],
      lifecyclePass: lifecyclePass && {
        passMs: lifecyclePass.passMs,
        expired: lifecyclePass.expired,
        getP99WithoutMs: lifecyclePass.without.p99Ms,
        getP99DuringMs: lifecyclePass.during.p99Ms,
      },
      list: list && {
        depth1P50Ms: list.depth1.p50Ms,
        depth1P99Ms: list.depth1.p99Ms,
        deepP50Ms: list.deep.p50Ms,
        deepP99Ms: list.deep.p99Ms,
        searchP99Ms: Object.fromEntries(
          searchKinds.map((kind) => [kind, { none: list!.searches[kind].none.p99Ms, onePercent: list!.searches[kind].onePercent.p99Ms }]),
        ) as Record<SearchKind, { none: number; onePercent: number }>,
        usageP99Ms: list.usage.p99Ms,
        peakRssMiB: list.peakRssMiB,
      },
    },
    databasePeakPssMiB: peak.databasePssMiB,
    bare: bulk?.bare ?? { upload: [], download: [] },
    direct: bucketBulk?.direct ?? { upload: [], download: [] },
    directHashesChecked: bucketBulk?.directHashesChecked ?? 0,
    verification: {
      // Every upload's answer, and the first download of each uploaded blob (on a bucket: every download), re-hashed.
      bulkHashesChecked: bulk ? 2 * bulk.runs.upload.length : (bucketBulk?.hashesChecked ?? 0),
      smallUploadsReadBack: small.verified.uploads,
      smallDownloadsReadBack: small.verified.downloads,
    },
    details: { bulk, bucketBulk, large, small, settings, list, lifecyclePass },
  }
}

function smallMeasurements(small: SmallResult): Measurements['small'] {
  return Object.fromEntries(
    smallPhases.map((phase) => [phase, { opsPerSec: small.phases[phase].requestsPerSec, p50Ms: small.phases[phase].p50Ms, p99Ms: small.phases[phase].p99Ms }]),
  ) as Measurements['small']
}

async function main(options: BenchOptions): Promise<Results> {
  const startedAt = new Date().toISOString()
  const loadAverage = currentLoadAverage()
  if (loadAverage > availableParallelism() / 2) progress(`the machine is busy (1-minute load average ${loadAverage}): expect noisy numbers`)
  ensureTool('wrk', 'wrk')
  ensureTool('curl', 'curl')
  mkdirSync(options.workRoot, { recursive: true })
  if (!process.env.S3_ENDPOINT && !Bun.which('radosgw')) throw new Error('Ceph (radosgw) is required for the S3 backend: run scripts/install-ceph.sh, or set S3_ENDPOINT (and S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY) to an S3 server')
  const server = await startPostgres()
  try {
    progress(process.env.S3_ENDPOINT ? `S3: using ${process.env.S3_ENDPOINT}` : 'S3: starting a single-node Ceph RGW')
    const cluster: BenchCluster = { ...server, tcpUrl: await server.listenOnTcp(), s3: await sharedS3() }
    progress(`limits: SHA-256, the upload client's ceiling, durable 4 KiB puts`)
    const standalone = await measureLimits(options)
    const runs = {} as Record<Backend, BackendRun>
    for (const backend of backends) runs[backend] = await measureBackend(backend, options, cluster)
    const bare = { upload: backends.flatMap((b) => runs[b].bare.upload), download: backends.flatMap((b) => runs[b].bare.download) }
    const direct = { upload: backends.flatMap((b) => runs[b].direct.upload), download: backends.flatMap((b) => runs[b].direct.download) }
    // The disk drifts within a run: each backend is judged against the bare (or direct) runs made beside it; the table's bare limits are PostgreSQL's.
    const limitsBeside = (backend: Backend): Limits => {
      const beside = runs[backend].bare.upload.length > 0 ? runs[backend].bare : runs.postgres.bare
      const directBeside = runs[backend].direct.upload.length > 0 ? runs[backend].direct : direct
      return {
        ...standalone,
        bareUploadMiBps: median(beside.upload.map((r) => r.mibps)),
        bareDownloadMiBps: median(beside.download.map((r) => r.mibps)),
        directUploadMiBps: median(directBeside.upload.map((r) => r.mibps)),
        directDownloadMiBps: median(directBeside.download.map((r) => r.mibps)),
        runs: bare,
        directRuns: direct,
      }
    }
    const limits = limitsBeside('postgres')

    const measurements = Object.fromEntries(backends.map((b) => [b, runs[b].measurements])) as Results['measurements']
    for (const backend of backends) {
      for (const [name, value] of measuredNumbers(measurements[backend])) {
        if (!(Number.isFinite(value) && value > 0)) throw new Error(`${backendTitles[backend]}: ${name} came out as ${value}`)
      }
    }
    const sizes = {
      bulkBytes: options.bulkBytes,
      bulkRepetitions: options.bulkRepetitions,
      bulkDownloadRounds: options.bulkDownloadRounds,
      sessionChunkBytes: options.sessionChunkBytes,
      largeRepetitions: options.largeRepetitions,
      smallSecs: options.smallSecs,
      smallConcurrency: options.smallConcurrency,
      smallSeeded: options.smallSeeded,
      settingsSecs: options.settingsSecs,
      lifecycleObjects: options.lifecycleObjects,
      listObjects: options.listObjects,
      listDepth: options.listDepth,
    }
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      smoke: options.smoke,
      machine: describeMachine(options.workRoot, loadAverage),
      s3Server: process.env.S3_ENDPOINT
        ? `the S3 server at ${process.env.S3_ENDPOINT}`
        : 'a single-node Ceph RGW that the bench starts (one BlueStore OSD on a sparse file in the system temp directory, reached over loopback)',
      sizes,
      limits,
      measurements,
      verification: {
        ...(Object.fromEntries(backends.map((b) => [b, runs[b].verification])) as Record<Backend, BackendRun['verification']>),
        // Every bare upload's answer, and one bare download beside each backend that has them.
        bareHashesChecked: bare.upload.length + backends.filter((b) => runs[b].bare.download.length > 0).length,
        directHashesChecked: backends.reduce((sum, b) => sum + runs[b].directHashesChecked, 0),
      },
      databasePeakPssMiB: Object.fromEntries(backends.map((b) => [b, runs[b].databasePeakPssMiB])) as Results['databasePeakPssMiB'],
      targets: checkTargets(sizes, limitsBeside, measurements),
      details: Object.fromEntries(backends.map((b) => [b, runs[b].details])) as Record<Backend, unknown>,
    }
  } finally {
    await stopSharedS3()
    await server.stop()
    rmSync(options.workRoot, { recursive: true, force: true })
  }
}

const options = (() => {
  try {
    return parseOptions(process.argv.slice(2), process.env)
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`)
    process.exit(2)
  }
})()
// Interrupted: the scratch files (several GiB in a full run) go with us; the PostgreSQL cluster is stopped by its exit hook, the Ceph one by its watchdog.
process.on('SIGINT', () => {
  rmSync(options.workRoot, { recursive: true, force: true })
  process.exit(130)
})
try {
  const results = await main(options)
  mkdirSync(dirname(options.jsonPath), { recursive: true })
  writeFileSync(options.jsonPath, JSON.stringify(results, null, 2) + '\n')
  console.log(describeRun(results))
  console.log()
  console.log(markdownTable(results))
  console.log()
  console.log(tableNotes(results))
  console.log()
  console.log(`JSON: ${options.jsonPath}`)
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? error}`)
  process.exit(1)
}
