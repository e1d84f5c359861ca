/**
 * What a transfer shows while it runs. On a terminal: one line per file that
 * updates in place (bytes, percent, rate, ETA) and, for several files, a total
 * line under it. Otherwise a plain line when a file starts and when it is done;
 * --json prints one JSON object per file result instead, --quiet nothing.
 */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet'

/** One file's outcome, as --json prints it. */
export interface TransferResult {
  action: 'upload' | 'download'
  source: string
  destination: string
  status: 'ok' | 'error'
  size?: number
  /** Bytes that crossed the network in this run. */
  bytes_sent?: number
  bytes_received?: number
  /** An upload the service completed from bytes it already held (X-Copy-Source): no body was sent. */
  linked?: boolean
  /** Where an interrupted transfer continued from. */
  resumed_from?: number
  session?: string
  content_hash?: string
  id?: string
  duration_ms?: number
  error?: { message: string; code?: string; request_id?: string }
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--'
  const s = Math.round(seconds)
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60]
  const mmss = `${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(sec).padStart(2, '0')}`
  return h > 0 ? `${h}:${mmss}` : mmss
}

/** Bytes done of a total since a start time, as the numbers a progress line shows. */
class Counter {
  done = 0
  private startedAt = performance.now()
  private startedFrom = 0

  constructor(public total: number) {}

  /** Starts a phase (hashing, sending) at `from` bytes, so rate and ETA count only what this phase moves. */
  restart(from: number): void {
    this.done = from
    this.startedFrom = from
    this.startedAt = performance.now()
  }

  describe(): string {
    const seconds = (performance.now() - this.startedAt) / 1000
    const rate = seconds > 0 ? (this.done - this.startedFrom) / seconds : 0
    const percent = this.total > 0 ? Math.floor((this.done / this.total) * 100) : 100
    const eta = rate > 0 ? (this.total - this.done) / rate : Number.POSITIVE_INFINITY
    return `${formatBytes(this.done)} / ${formatBytes(this.total)}  ${percent}%  ${formatBytes(rate)}/s  ETA ${formatDuration(eta)}`
  }
}

export class Progress {
  private liveLines = 0
  private lastDraw = 0
  private file?: { label: string; phase: string; transferring: boolean; counter: Counter }
  private readonly overall?: { counter: Counter; files: number; filesDone: number; bytesDone: number }

  constructor(
    readonly mode: ProgressMode,
    totals?: { files: number; bytes: number },
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    if (totals && totals.files > 1) this.overall = { counter: new Counter(totals.bytes), files: totals.files, filesDone: 0, bytesDone: 0 }
  }

  /** A file begins; `label` names source and destination. */
  start(label: string, size: number): void {
    this.file = { label, phase: '', transferring: false, counter: new Counter(size) }
    if (this.mode === 'plain') this.out.write(`start ${label}${size > 0 ? ` (${formatBytes(size)})` : ''}\n`)
    // A download learns its size from the answer: until then there is nothing to draw.
    if (size > 0) this.draw(true)
  }

  /**
   * The current file enters a phase with `from` of its bytes behind it: hashing
   * (which the total does not count) or moving bytes (which it does).
   */
  phase(name: 'hashing' | 'sending' | 'receiving', from = 0): void {
    if (!this.file) return
    this.file.phase = name
    this.file.transferring = name === 'sending' || name === 'receiving'
    this.file.counter.restart(from)
    this.draw(true)
  }

  /** The current file's size, once the service has told it. */
  resize(size: number): void {
    if (this.file) this.file.counter.total = size
  }

  advance(bytes: number): void {
    if (!this.file) return
    this.file.counter.done += bytes
    this.draw(false)
  }

  /** The current file's outcome: its final line, or its JSON object. */
  finish(result: TransferResult, summary: string): void {
    if (this.overall) {
      this.overall.filesDone++
      // A file's bytes count as done however they got there: sent, linked or resumed.
      this.overall.bytesDone += result.status === 'ok' ? (result.size ?? 0) : 0
    }
    this.file = undefined
    const line = `${result.status === 'ok' ? 'done' : 'failed'} ${summary}`
    if (this.mode === 'json') console.log(JSON.stringify(result))
    else if (this.mode === 'plain') this.out.write(`${line}\n`)
    else if (this.mode === 'tty') this.render([line], this.overall ? [this.totalLine()] : [])
  }

  /** The end of the command: the total line stays. */
  close(): void {
    if (this.mode === 'tty' && this.overall) this.render([this.totalLine()], [])
  }

  private totalLine(): string {
    const overall = this.overall!
    const current = this.file?.transferring ? this.file.counter.done : 0
    overall.counter.done = overall.bytesDone + current
    return `total [${overall.filesDone}/${overall.files}]  ${overall.counter.describe()}`
  }

  private draw(force: boolean): void {
    if (this.mode !== 'tty' || !this.file) return
    const now = performance.now()
    if (!force && now - this.lastDraw < 100) return
    this.lastDraw = now
    const { label, phase, counter } = this.file
    const width = this.out.columns || 100
    const numbers = `${phase ? `${phase} ` : ''}${counter.describe()}`
    const room = Math.max(10, width - numbers.length - 3)
    const name = label.length > room ? `…${label.slice(label.length - room + 1)}` : label
    this.render([], [`${name}  ${numbers}`, ...(this.overall ? [this.totalLine()] : [])])
  }

  /** Redraws the live lines in place; `committed` lines stay above them for good. */
  private render(committed: string[], live: string[]): void {
    let text = '\r'
    if (this.liveLines > 1) text += `\x1b[${this.liveLines - 1}A`
    text += [...committed, ...live].map((line) => `\x1b[2K${line}`).join('\n')
    text += '\x1b[J'
    if (live.length === 0) text += '\n'
    this.out.write(text)
    this.liveLines = live.length
  }
}
