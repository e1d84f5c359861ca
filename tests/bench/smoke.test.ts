import { expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tableHeader, type Measurements, type Results } from '../../bench/report'
import { repoRoot } from '../support/child'
import { tempDir } from '../support/temp'

/**
 * The benchmark harness end to end at toy sizes: every phase runs on both
 * backends, every number comes out, and every hash check ran.
 */

const measurementNames: (keyof Measurements)[] = [
  'bulkUploadMiBps',
  'bulkDownloadMiBps',
  'smallUploadOpsPerSec',
  'smallUploadP50Ms',
  'smallUploadP99Ms',
  'smallDownloadOpsPerSec',
  'smallDownloadP50Ms',
  'smallDownloadP99Ms',
  'listDepth1P50Ms',
  'listDepth1P99Ms',
  'listDeepP50Ms',
  'listDeepP99Ms',
  'peakRssBulkUploadMiB',
  'peakRssBulkDownloadMiB',
  'peakRssSmallUploadMiB',
  'peakRssSmallDownloadMiB',
  'peakRssListMiB',
]

const positiveFinite = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0

test(
  'bun bench/run.ts --smoke measures every phase on PostgreSQL and the embedded default and verifies the bytes',
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
      for (const backend of ['postgres', 'embedded'] as const) {
        const measured = results.measurements[backend]
        expect(Object.keys(measured).sort()).toEqual([...measurementNames].sort())
        for (const name of measurementNames) expect({ backend, name, ok: positiveFinite(measured[name]) }).toEqual({ backend, name, ok: true })
        const checked = results.verification[backend]
        expect(checked.bulkHashesChecked).toBe(2 * results.sizes.bulkRepetitions)
        expect(checked.smallUploadsReadBack).toBeGreaterThan(0)
        expect(checked.smallDownloadsReadBack).toBeGreaterThan(0)
      }
      expect(results.verification.bareHashesChecked).toBeGreaterThan(0)
      for (const name of ['sha256MiBps', 'uploadClientMiBps', 'bareUploadMiBps', 'bareDownloadMiBps', 'durablePutOpsPerSec'] as const) {
        expect({ name, ok: positiveFinite(results.limits[name]) }).toEqual({ name, ok: true })
      }
      expect(results.targets.length).toBeGreaterThan(0)
      for (const target of results.targets) expect(typeof target.ok).toBe('boolean')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
  300_000,
)
