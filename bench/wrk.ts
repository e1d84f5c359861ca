/** Runs wrk with a Lua script and reads its `--latency` report. */
import { join } from 'node:path'
import { repoRoot } from '../tests/support/child'
import { run } from './processes'

export interface WrkResult {
  requests: number
  requestsPerSec: number
  p50Ms: number
  p99Ms: number
  /** Responses with a status of 400 or more (wrk's "Non-2xx or 3xx responses"). */
  errorResponses: number
  socketErrors: number
}

export interface WrkRun {
  /** The service; with several replicas, the first. */
  url: string
  /**
   * Every replica's URL, when there are several: wrk then runs one thread per
   * replica, each with its share of the connections, and the scripts' setup()
   * points each thread at its replica (BENCH_WRK_ADDRESSES). The rate and the
   * latency percentiles are wrk's own over all threads' requests.
   */
  replicas?: string[]
  script: string
  /** Passed to the script's init(args). */
  args: string[]
  seconds: number
  connections: number
}

export async function runWrk(spec: WrkRun): Promise<WrkResult & { output: string }> {
  const replicas = spec.replicas ?? [spec.url]
  if (spec.connections % replicas.length !== 0) throw new Error(`${spec.connections} connections do not split evenly over ${replicas.length} replicas`)
  const addresses = replicas.map((url) => new URL(url).host).join(' ')
  const output = await run([
    'wrk',
    // One client thread drives 16 connections easily and leaves the CPUs to the server; one per replica when there are several.
    '--threads', String(replicas.length),
    '--connections', String(spec.connections),
    '--duration', `${spec.seconds}s`,
    '--timeout', '10s',
    '--latency',
    '--script', join(repoRoot, 'bench', 'wrk', spec.script),
    spec.url,
    '--',
    ...spec.args,
  ], { BENCH_WRK_ADDRESSES: addresses })
  return { ...parseWrk(output), output }
}

const toMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

function duration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text)
  if (!match) throw new Error(`unreadable wrk duration ${text}`)
  return Number(match[1]) * toMs[match[2]!]!
}

export function parseWrk(output: string): WrkResult {
  const find = (pattern: RegExp, what: string) => {
    const match = pattern.exec(output)
    if (!match) throw new Error(`wrk output has no ${what}:\n${output}`)
    return match
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
  return {
    requests: Number(find(/(\d+) requests in /, 'request count')[1]),
    requestsPerSec: Number(find(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')[1]),
    p50Ms: duration(find(/^\s+50%\s+(\S+)/m, '50th percentile')[1]!),
    p99Ms: duration(find(/^\s+99%\s+(\S+)/m, '99th percentile')[1]!),
    errorResponses: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    socketErrors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  }
}
