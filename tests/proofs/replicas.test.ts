import { afterAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { startChild, type Child } from '../support/child'
import { sharedCluster } from '../support/server'
import { tempDir } from '../support/temp'

/** The JSON log lines of a child with this message. */
const logLines = (child: Child, msg: string) =>
  child
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg)

/**
 * Two service processes on one database share their scheduled work through it:
 * each GC pass runs in both, but the orphan sweep once per hour and the
 * scrubber once per scheduled time, across both.
 */
describe('two replicas on one database', () => {
  const dirs = [tempDir('juststorage-replica-a-'), tempDir('juststorage-replica-b-')]
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  test('run one scrub per scheduled time and one orphan sweep per hour between them', async () => {
    const databaseUrl = await (await sharedCluster()).createDatabase(`replicas_${process.pid}`)
    // GC every second and a scrub scheduled every second: both replicas' timers fire all the time.
    const env = { GC_INTERVAL_SECS: '1', SCRUB_CRON: '* * * * * *', LOG_LEVEL: 'info' }
    const children: Child[] = []
    try {
      for (const dataDir of dirs) children.push(await startChild({ databaseUrl, dataDir, env }))
      await Bun.sleep(6000)
    } finally {
      for (const child of children) await child.stop()
    }
    const [a, b] = children as [Child, Child]

    // GC itself runs in every replica: its blob claims are shared row by row.
    expect(logLines(a, 'gc pass').length).toBeGreaterThanOrEqual(3)
    expect(logLines(b, 'gc pass').length).toBeGreaterThanOrEqual(3)
    const sweeps = [...logLines(a, 'gc pass'), ...logLines(b, 'gc pass')].filter((line) => line.orphan_sweep === true)
    expect(sweeps).toHaveLength(1)

    const scrubs = [...logLines(a, 'scrub pass'), ...logLines(b, 'scrub pass')]
    expect(scrubs.length).toBeGreaterThanOrEqual(4)
    // Each pass began in the second it was scheduled for: no second has two.
    const slots = scrubs.map((line) => Math.floor((Date.parse(String(line.time)) - Number(line.duration_ms)) / 1000))
    expect(new Set(slots).size).toBe(slots.length)
  }, 60_000)
})
