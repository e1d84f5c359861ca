import { expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { measuredNumbers, tableHeader, type Results } from '../../bench/report'
import type { LargeResult } from '../../bench/large'
import { expiredOf, settingsPhases, type LifecyclePassResult, type SettingsResult } from '../../bench/lifecycle'
import { searchKinds } from '../../bench/list'
import { smallPhases, type SmallResult } from '../../bench/small'
import { repoRoot } from '../support/child'
import { tempDir } from '../support/temp'

/**
 * The benchmark harness end to end at toy sizes: every phase runs on every
 * backend (over TCP, the 4 KiB phases only; on a bucket, the bulk phases beside
 * the RGW reached directly and the 4 KiB phases on two replicas), every number
 * comes out, and every hash check ran.
 */

const positiveFinite = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0

test(
  'bun bench/run.ts --smoke measures every phase on PostgreSQL (socket and TCP), the embedded default and a bucket of Ceph RGW, and verifies the bytes',
  async () => {
    const dir = tempDir('juststorage-bench-')
    const jsonPath = join(dir, 'results.json')
    try {
      const proc = Bun.spawn([process.execPath, 'bench/run.ts', '--smoke', '--json', jsonPath, '--dir', dir], {
        cwd: repoRoot,
        stdout: 'pipe',
        stderr: 'pipe',
      })
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
      if (code !== 0) throw new Error(`the smoke run exited ${code}\n${stdout}\n${stderr}`)
      expect(stdout).toContain(tableHeader)

      const results = JSON.parse(readFileSync(jsonPath, 'utf8')) as Results
      expect(results.smoke).toBe(true)
      const { bulkRepetitions: uploads, bulkDownloadRounds: rounds } = results.sizes
      expect(Object.keys(results.measurements).sort()).toEqual(['embedded', 'postgres', 'postgres-tcp', 's3'])
      for (const backend of ['postgres', 'postgres-tcp', 'embedded', 's3'] as const) {
        const measured = results.measurements[backend]
        expect(Object.keys(measured.small).sort()).toEqual([...smallPhases].sort())
        const onDirectories = backend === 'postgres' || backend === 'embedded'
        const onBucket = backend === 's3'
        expect({ backend, bulk: measured.bulk !== null, bucketBulk: measured.bucketBulk !== null, large: measured.large !== null, list: measured.list !== null }).toEqual({
          backend,
          bulk: onDirectories,
          bucketBulk: onBucket,
          large: onDirectories || onBucket,
          list: onDirectories,
        })
        expect({ backend, settings: Object.keys(measured.settings).sort(), lifecyclePass: measured.lifecyclePass !== null }).toEqual({
          backend,
          settings: [...settingsPhases].sort(),
          lifecyclePass: onDirectories,
        })
        const numbers = measuredNumbers(measured)
        // 4 bulk numbers and 5 session and copy numbers (on directories or on the bucket); 4 per phase set beside namespace settings;
        // list: 4 page latencies, 2 per search kind, usage and the peak RSS; the lifecycle pass: its duration, its count and 2 p99s.
        expect({ backend, numbers: numbers.length }).toEqual({
          backend,
          numbers: smallPhases.length * 3 + 1 + settingsPhases.length * 4 + (onDirectories || onBucket ? 4 + 5 : 0) + (onDirectories ? 4 + 2 * searchKinds.length + 2 + 4 : 0),
        })
        for (const [name, value] of numbers) expect({ backend, name, ok: positiveFinite(value) }).toEqual({ backend, name, ok: true })
        const checked = results.verification[backend]
        // On directories every upload's answer and each blob's first download; on the bucket every upload's answer and every download.
        expect({ backend, hashes: checked.bulkHashesChecked }).toEqual({ backend, hashes: onDirectories ? 2 * uploads : onBucket ? uploads + uploads * rounds : 0 })
        expect(checked.smallUploadsReadBack).toBeGreaterThan(0)
        expect(checked.smallDownloadsReadBack).toBeGreaterThan(0)
        expect({ backend, replicas: (results.details[backend] as { small: SmallResult }).small.replicas }).toEqual({ backend, replicas: onBucket ? 2 : 1 })
        // Each phase ran twice on each namespace; the versioned one kept the replaced key's versions; uploads and downloads were read back.
        const settings = (results.details[backend] as { settings: SettingsResult }).settings
        for (const phase of settingsPhases) {
          expect({ backend, phase, runs: [settings.phases[phase].plain.runs.length, settings.phases[phase].lifecycle.runs.length] }).toEqual({ backend, phase, runs: [2, 2] })
        }
        expect(settings.replacedKeyVersions.plain).toBe(1)
        expect(settings.replacedKeyVersions.lifecycle).toBeGreaterThanOrEqual(3)
        expect(settings.verified.uploads).toBeGreaterThan(0)
        expect(settings.verified.downloads).toBeGreaterThan(0)
        // The pass expired exactly the seeded 1 %, and GETs were timed before and during it.
        const pass = (results.details[backend] as { lifecyclePass: LifecyclePassResult | null }).lifecyclePass
        if (onDirectories) {
          expect({ backend, objects: pass!.objects, expired: pass!.expired }).toEqual({ backend, objects: results.sizes.lifecycleObjects, expired: expiredOf(results.sizes.lifecycleObjects) })
          expect(pass!.without.requests).toBeGreaterThan(0)
          expect(pass!.during.requests).toBeGreaterThan(0)
        } else expect({ backend, pass }).toEqual({ backend, pass: null })
        const large = (results.details[backend] as { large: LargeResult | null }).large
        const { largeRepetitions: reps } = results.sizes
        expect({ backend, runs: large && [large.runs.sessions.length, large.runs.smallSessions.length, large.runs.copyLargeMs.length, large.runs.copySmallMs.length] }).toEqual({
          backend,
          runs: onDirectories || onBucket ? [reps, reps, reps, reps] : null,
        })
      }
      // The session and copy rows are judged wherever they ran, each against its counterpart on the same backend (with a ratio).
      const sessionAndCopy = results.targets.filter((t) => /^(session upload|complete of|copy of)/.test(t.measurement))
      expect(sessionAndCopy.map((t) => [t.backend, t.target, t.ratio !== null])).toEqual(
        ['≥ 0.9 × single-request upload', '≤ 2 × 1 MiB session', '≤ 2 × 4 KiB copy'].flatMap((target) => (['postgres', 'embedded', 's3'] as const).map((backend) => [backend, target, true])),
      )
      expect(stdout).toContain('session upload')
      // The settings rows are judged on every backend against the plain namespace beside them; the pass's rows where it ran.
      const withSettings = results.targets.filter((t) => t.measurement.includes('with versioning and quotas'))
      expect(withSettings.map((t) => [t.backend, t.target, t.ratio !== null])).toEqual(
        settingsPhases.flatMap(() => (['postgres', 'postgres-tcp', 'embedded', 's3'] as const).map((backend) => [backend, '≥ 0.9 × without settings', true])),
      )
      const passTargets = results.targets.filter((t) => /(expired by the pass|during the pass − before)/.test(t.measurement))
      expect(passTargets.map((t) => [t.backend, t.target])).toEqual([
        ['postgres', `= ${expiredOf(results.sizes.lifecycleObjects).toLocaleString('en-US')} (1 %)`],
        ['embedded', `= ${expiredOf(results.sizes.lifecycleObjects).toLocaleString('en-US')} (1 %)`],
        ['postgres', '≤ 2 ms'],
        ['embedded', '≤ 2 ms'],
      ])
      expect(passTargets.slice(0, 2).every((t) => t.ok)).toBe(true)
      expect(stdout).toContain('lifecycle pass over')
      expect(results.verification.bareHashesChecked).toBeGreaterThan(0)
      // Every direct GET of the bucket was hashed against its direct upload's body, one beside each download through the service.
      expect(results.verification.directHashesChecked).toBe(uploads * rounds)
      expect({ uploads: results.limits.directRuns.upload.length, downloads: results.limits.directRuns.download.length }).toEqual({ uploads, downloads: uploads * rounds })
      for (const name of ['sha256MiBps', 'uploadClientMiBps', 'bareUploadMiBps', 'bareDownloadMiBps', 'durablePutOpsPerSec', 'directUploadMiBps', 'directDownloadMiBps'] as const) {
        expect({ name, ok: positiveFinite(results.limits[name]) }).toEqual({ name, ok: true })
      }
      expect(results.targets.length).toBeGreaterThan(0)
      for (const target of results.targets) expect(typeof target.ok).toBe('boolean')
      // The bucket's rows are judged on the s3 backend: against the direct runs (with a ratio) and the RSS ceiling.
      const onBucket = results.targets.filter((t) => t.backend === 's3' && t.measurement.includes('a bucket'))
      expect(onBucket.map((t) => [t.measurement.replace(/^\d+ [MG]iB /, '').replace(/ \d+ [MG]iB /, ' '), t.target, t.ratio !== null])).toEqual([
        ['upload to a bucket (MiB/s)', '≥ 0.8 × limit', true],
        ['download from a bucket (MiB/s)', '≥ 0.9 × limit', true],
        ['peak RSS, upload to a bucket (MiB)', '≤ 150 MiB', false],
        ['peak RSS, download from a bucket (MiB)', '≤ 150 MiB', false],
      ])
      expect(onBucket[0]!.ratio).toBeCloseTo(results.measurements.s3.bucketBulk!.uploadMiBps / results.limits.directUploadMiBps, 6)
      expect(onBucket[1]!.ratio).toBeCloseTo(results.measurements.s3.bucketBulk!.downloadMiBps / results.limits.directDownloadMiBps, 6)
      expect(stdout).toContain('upload to a bucket')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
  // A few minutes on an idle machine; on a busy one (tests running beside it) the 4 KiB phases, each timed, are followed by slower checks.
  480_000,
)
