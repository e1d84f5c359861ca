import type { Db } from './client'

/**
 * Ids touched by requests, kept in memory and written in one statement now and
 * then (when an API key was last used, when an object was last read), never
 * once per request. What a failed write leaves is kept for the next one.
 */
export class BatchedTouches {
  private readonly pending = new Set<string>()

  /** `write` gets the ids in one order, so that two replicas' writes never deadlock on each other. */
  constructor(private readonly write: (db: Db, ids: string[]) => Promise<unknown>) {}

  touch(id: string): void {
    this.pending.add(id)
  }

  async flush(db: Db): Promise<void> {
    if (this.pending.size === 0) return
    const ids = [...this.pending].sort()
    this.pending.clear()
    try {
      await this.write(db, ids)
    } catch (error) {
      for (const id of ids) this.pending.add(id)
      throw error
    }
  }
}
