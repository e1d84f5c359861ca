/** The facts about the machine that a benchmark number means nothing without. */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg, release, totalmem } from 'node:os'

export interface Machine {
  cpus: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  /** Filesystem type and device holding the scratch directory (blobs, bare-server files). */
  scratchFilesystem: string
  bun: string
  /** 1-minute load average when the run started: other work on the machine skews every number. */
  loadAverageAtStart: number
}

export function describeMachine(scratchDir: string, loadAverageAtStart: number): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const df = spawnSync('df', ['--output=fstype,source', scratchDir], { encoding: 'utf8' }).stdout.trim().split('\n')[1]
  return {
    cpus: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    scratchFilesystem: df?.trim().replace(/\s+/, ' on ') ?? 'unknown',
    bun: Bun.version,
    loadAverageAtStart,
  }
}

export const currentLoadAverage = (): number => Math.round(loadavg()[0]! * 100) / 100
