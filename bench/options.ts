/**
 * What one run measures and how big: the full run by default, a smoke run
 * (seconds, tiny sizes) with `--smoke` or BENCH_SMOKE=1.
 */
import { dirname, join, resolve } from 'node:path'
import { repoRoot } from '../tests/support/child'

const mib = 2 ** 20

export interface BenchOptions {
  smoke: boolean
  /** Where the JSON results go. */
  jsonPath: string
  /** Scratch space for blobs, databases and bare-server files; removed at the end. */
  workRoot: string
  bulkBytes: number
  bulkRepetitions: number
  /** Timed downloads of each uploaded blob (each beside a bare one). */
  bulkDownloadRounds: number
  /** The chunk size of the upload sessions of bulkBytes, which are set beside the single-request upload of that size. */
  sessionChunkBytes: number
  /** Session uploads, completes and copies of each size (medians). */
  largeRepetitions: number
  /** Seconds of each timed 4 KiB phase (after a warm-up of warmupSecs). */
  smallSecs: number
  warmupSecs: number
  smallConcurrency: number
  /** 4 KiB objects seeded for the download phase. */
  smallSeeded: number
  /** Downloads re-checked byte for byte after each 4 KiB phase. */
  smallVerified: number
  /** Seconds of each of the four runs (plain, lifecycle, lifecycle, plain) of a 4 KiB phase set beside a namespace with lifecycle settings. */
  settingsSecs: number
  /** Objects of the namespace the measured lifecycle pass goes over; 1 % of them have expired. */
  lifecycleObjects: number
  listObjects: number
  /** Objects skipped before the deep page: depth / pageSize cursors are followed first. */
  listDepth: number
  listPageSize: number
  listWarmup: number
  listTimed: number
}

type Sizes = Omit<BenchOptions, 'smoke' | 'jsonPath' | 'workRoot'>

const full: Sizes = {
  bulkBytes: 1024 * mib,
  bulkRepetitions: 3,
  bulkDownloadRounds: 3,
  sessionChunkBytes: 64 * mib,
  largeRepetitions: 5,
  smallSecs: 10,
  warmupSecs: 2,
  smallConcurrency: 16,
  smallSeeded: 10_000,
  smallVerified: 200,
  settingsSecs: 5,
  lifecycleObjects: 1_000_000,
  listObjects: 1_000_000,
  listDepth: 10_000,
  listPageSize: 100,
  listWarmup: 20,
  listTimed: 200,
}

/** Every phase, at sizes that only prove the harness works. */
const smoke: Sizes = {
  ...full,
  bulkBytes: 8 * mib,
  bulkRepetitions: 1,
  bulkDownloadRounds: 1,
  // On a bucket, chunks under S3's 5 MiB part minimum wait in the session's row: a path of its own, exercised too.
  sessionChunkBytes: 2 * mib,
  largeRepetitions: 2,
  smallSecs: 2,
  warmupSecs: 1,
  smallSeeded: 200,
  smallVerified: 20,
  settingsSecs: 1,
  lifecycleObjects: 2_000,
  listObjects: 2_000,
  listDepth: 1_000,
  listWarmup: 5,
  listTimed: 30,
}

export function parseOptions(argv: string[], env: Record<string, string | undefined>): BenchOptions {
  const valued = ['--json', '--dir']
  const known = ['--smoke', ...valued]
  for (const [i, arg] of argv.entries()) {
    // A lone `--` (option terminator passed through by some runners) means nothing here.
    if (arg.startsWith('--') && arg !== '--' && !known.includes(arg)) throw new Error(`unknown option ${arg} (known: ${known.join(', ')})`)
    if (!arg.startsWith('--') && !valued.includes(argv[i - 1] ?? '')) throw new Error(`unexpected argument ${arg}`)
  }
  const value = (name: string) => {
    const at = argv.indexOf(name)
    if (at < 0) return undefined
    const given = argv[at + 1]
    if (given === undefined || given.startsWith('--')) throw new Error(`${name} needs a value`)
    return given
  }

  const isSmoke = argv.includes('--smoke') || env.BENCH_SMOKE === '1'
  // Next to the checkout rather than in /tmp, which is often a small tmpfs: a full run writes several GiB.
  const scratchParent = resolve(value('--dir') ?? env.BENCH_DIR ?? dirname(repoRoot))
  return {
    ...(isSmoke ? smoke : full),
    smoke: isSmoke,
    jsonPath: resolve(value('--json') ?? join(repoRoot, 'bench', 'results.json')),
    workRoot: join(scratchParent, `tmp-bench-${process.pid}-${Date.now().toString(36)}`),
  }
}
