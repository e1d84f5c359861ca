/**
 * The SHA-256 of each session's bytes so far, carried in this process as the
 * bytes arrive, so that completing costs the same whatever the size. A hash
 * state cannot be saved (Bun's hasher has no export, and a portable one hashes
 * at a seventh of the speed), so a session continued after a restart or on
 * another replica has none here: its completion reads its bytes once instead.
 */
export class SessionHashes {
  private readonly states = new Map<string, { offset: number; hasher: Bun.CryptoHasher }>()

  constructor(private readonly capacity = 10_000) {}

  /** A hasher to continue from `offset`, or null when this process does not know the bytes before it. */
  resume(sessionId: string, offset: number): Bun.CryptoHasher | null {
    if (offset === 0) return new Bun.CryptoHasher('sha256')
    const state = this.states.get(sessionId)
    return state?.offset === offset ? state.hasher.copy() : null
  }

  /** Keeps the hash of the first `offset` bytes, once they are the session's. */
  record(sessionId: string, offset: number, hasher: Bun.CryptoHasher): void {
    this.states.delete(sessionId)
    this.states.set(sessionId, { offset, hasher })
    // The oldest go first: a session idle that long is the likeliest to be continued elsewhere, or never.
    for (const oldest of this.states.keys()) {
      if (this.states.size <= this.capacity) break
      this.states.delete(oldest)
    }
  }

  /** The hex digest of the first `offset` bytes, when this process carried it. */
  digest(sessionId: string, offset: number): string | null {
    if (offset === 0) return new Bun.CryptoHasher('sha256').digest('hex')
    const state = this.states.get(sessionId)
    return state?.offset === offset ? state.hasher.copy().digest('hex') : null
  }

  forget(sessionId: string): void {
    this.states.delete(sessionId)
  }
}
