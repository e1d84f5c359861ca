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
  url: string
  script: string
  /** Passed to the script's init(args). */
  args: string[]
  seconds: number
  connections: number
}

export async function runWrk(spec: WrkRun): Promise<WrkResult & { output: string }> {
  const output = await run([
    'wrk',
    // One client thread drives 16 connections easily and leaves the CPUs to the server.
    '--threads', '1',
    '--connections', String(spec.connections),
    '--duration', `${spec.seconds}s`,
    '--timeout', '10s',
    '--latency',
    '--script', join(repoRoot, 'bench', 'wrk', spec.script),
    spec.url,
    '--',
    ...spec.args,
  ])
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
