/**
 * Named points in the lifecycle where a test can hold an operation, to force a
 * race deterministically (a commit holding a blob lock while GC runs, GC holding
 * it while a commit arrives). With nothing registered a point costs one lookup.
 */
export type BarrierPoint = 'commit:blobs-locked' | 'commit:quota-held' | 'gc:blob-unlinked' | 'lifecycle:prune-locked' | 'download:before-send' | 'scrub:blob-checked' | 'complete:sealed'

const holds = new Map<BarrierPoint, () => Promise<void>>()

export function barrier(point: BarrierPoint): Promise<void> | undefined {
  return holds.get(point)?.()
}

/** Holds the next operation that reaches `point` until `release` is called; `reached` resolves when it arrives. */
export function holdAt(point: BarrierPoint): { reached: Promise<void>; release: () => void } {
  let arrived!: () => void
  let release!: () => void
  const reached = new Promise<void>((resolve) => (arrived = resolve))
  const released = new Promise<void>((resolve) => (release = resolve))
  holds.set(point, () => {
    holds.delete(point)
    arrived()
    return released
  })
  return { reached, release }
}
