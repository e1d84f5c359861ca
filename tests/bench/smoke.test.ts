import { expect, test } from 'bun:test'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { measuredNumbers, tableHeader, type Results } from '../../bench/report'
import { searchKinds } from '../../bench/list'
import { smallPhases } from '../../bench/small'
import { repoRoot } from '../support/child'
import { tempDir } from '../support/temp'

/**
 * The benchmark harness end to end at toy sizes: every phase runs on every
 * backend (over TCP, the 4 KiB phases only), every number comes out, and every
 * hash check ran.
 */

const positiveFinite = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0

test(
  'bun bench/run.ts --smoke measures every phase on PostgreSQL (socket and TCP) and the embedded default and verifies the bytes',
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
      for (const backend of ['postgres', 'postgres-tcp', 'embedded'] as const) {
        const measured = results.measurements[backend]
        expect(Object.keys(measured.small).sort()).toEqual([...smallPhases].sort())
        const full = backend !== 'postgres-tcp'
        expect({ backend, bulk: measured.bulk !== null, list: measured.list !== null }).toEqual({ backend, bulk: full, list: full })
        const numbers = measuredNumbers(measured)
        // 4 bulk numbers; list: 4 page latencies, 2 per search kind, usage and the peak RSS.
        expect(numbers.length).toBe(smallPhases.length * 3 + 1 + (full ? 4 + 4 + 2 * searchKinds.length + 2 : 0))
        for (const [name, value] of numbers) expect({ backend, name, ok: positiveFinite(value) }).toEqual({ backend, name, ok: true })
        const checked = results.verification[backend]
        expect(checked.bulkHashesChecked).toBe(full ? 2 * results.sizes.bulkRepetitions : 0)
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
