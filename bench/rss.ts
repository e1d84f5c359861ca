/**
 * A process's peak resident memory per phase. VmHWM only ever grows from the
 * process's start, so VmRSS is polled instead and the maximum kept per phase.
 */
import { readFileSync } from 'node:fs'

const pollMs = 50

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)
  if (!kib) throw new Error(`no VmRSS for process ${pid}`)
  return Number(kib[1]) / 1024
}

/** Runs `phase` while polling the process's RSS; returns its result and the peak in MiB. */
export async function withPeakRss<T>(pid: number, phase: () => Promise<T>): Promise<{ result: T; peakRssMiB: number }> {
  let peak = rssMiB(pid)
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid))
    } catch {
      // the process is gone; the phase itself will report why
    }
  }, pollMs)
  try {
    const result = await phase()
    return { result, peakRssMiB: Math.max(peak, rssMiB(pid)) }
  } finally {
    clearInterval(timer)
  }
}
