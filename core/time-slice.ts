/**
 * Long runs of work on the event loop (hashing and writing a streamed body,
 * walking a directory tree) hand it back every few milliseconds, so that
 * timers, other requests and I/O never wait on them for longer.
 */
export class TimeSlice {
  private started = performance.now()

  constructor(private readonly ms = 4) {}

  /** Yields to the event loop once this slice is used up, and starts the next. */
  async yield(): Promise<void> {
    if (performance.now() - this.started < this.ms) return
    await new Promise((resolve) => setImmediate(resolve))
    this.started = performance.now()
  }
}
