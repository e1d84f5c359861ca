/**
 * Preloaded into the service by bench/event-loop-lag.ts (BUN_OPTIONS=--preload):
 * samples how late a 5 ms timer fires on the service's own event loop. On
 * SIGUSR2 it writes the lags (ms) seen since the signal before to
 * $LAG_PROBE_DIR/window-<n>.json and starts a new window.
 */
import { renameSync, writeFileSync } from 'node:fs'

const dir = process.env.LAG_PROBE_DIR!
const tickMs = 5
let lags: number[] = []
let windows = 0
let due = performance.now() + tickMs
setInterval(() => {
  const now = performance.now()
  lags.push(Math.max(0, now - due))
  due = now + tickMs
}, tickMs).unref()

process.on('SIGUSR2', () => {
  const path = `${dir}/window-${++windows}.json`
  writeFileSync(`${path}.part`, JSON.stringify(lags))
  renameSync(`${path}.part`, path)
  lags = []
})
