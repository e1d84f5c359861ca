/**
 * Streamed bodies pass through in chunks that Bun's allocator keeps after they
 * are garbage; only a full collection hands them back. Past this resident size
 * one is run, at most every collectEveryMs, which keeps a multi-GiB upload
 * within the memory budget without paying a collection per chunk.
 */
const rssBudgetBytes = 112 * 2 ** 20
const collectEveryMs = 200
let lastCollection = 0

export function keepMemoryInBudget(): void {
  const now = performance.now()
  if (now - lastCollection < collectEveryMs || process.memoryUsage.rss() < rssBudgetBytes) return
  lastCollection = now
  Bun.gc(true)
}
