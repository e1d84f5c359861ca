/**
 * A process's peak resident memory per phase. VmHWM only ever grows from the
 * process's start, so VmRSS is polled instead and the maximum kept per phase.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

const pollMs = 50

export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)
  if (!kib) throw new Error(`no VmRSS for process ${pid}`)
  return Number(kib[1]) / 1024
}

/**
 * Runs `phase` while polling the RSS of a process, or of each of several
 * (replicas); returns its result and the peak in MiB (of the largest process).
 */
export async function withPeakRss<T>(pids: number | number[], phase: () => Promise<T>): Promise<{ result: T; peakRssMiB: number }> {
  const all = typeof pids === 'number' ? [pids] : pids
  const largest = () => Math.max(...all.map(rssMiB))
  let peak = largest()
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, largest())
    } catch {
      // the process is gone; the phase itself will report why
    }
  }, pollMs)
  try {
    const result = await phase()
    return { result, peakRssMiB: Math.max(peak, largest()) }
  } finally {
    clearInterval(timer)
  }
}

/**
 * Memory of a PostgreSQL cluster's processes: the postmaster and its children,
 * summed as PSS (each shared page counted once across them, where RSS would
 * count shared_buffers in every backend that touched it).
 */
export function clusterPssMiB(clusterDir: string): number {
  const postmaster = Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  const children = readdirSync('/proc').filter((name) => /^\d+$/.test(name) && parentOf(Number(name)) === postmaster).map(Number)
  const kib = [postmaster, ...children].reduce((sum, pid) => sum + pssKiB(pid), 0)
  return kib / 1024
}

function parentOf(pid: number): number | undefined {
  try {
    // Fields after the command, which is in parentheses and may hold spaces.
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
  } catch {
    return undefined
  }
}

function pssKiB(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0)
  } catch {
    // A backend that exited between the listing and the read.
    return 0
  }
}
