/**
 * Streamed bodies pass through in chunks that Bun's allocator keeps after they
 * are garbage; only a collection hands them back. Past this resident size one
 * is asked for, but only once resident memory has grown by a step above the
 * lowest it has been since the last one: memory that stays above the budget
 * because it is live is no reason to collect again and again. The collection
 * runs concurrently (Bun.gc(false)): a forced synchronous one stops the event
 * loop for about 20 ms each time. A 4 GiB upload then peaks near 125 MiB.
 */
const rssBudgetBytes = 112 * 2 ** 20
const growthStepBytes = 16 * 2 ** 20
const collectEveryMs = 200
let lastCollection = 0
let lowestSinceCollection = Infinity

export function keepMemoryInBudget(): void {
  const now = performance.now()
  const rss = process.memoryUsage.rss()
  lowestSinceCollection = Math.min(lowestSinceCollection, rss)
  if (now - lastCollection < collectEveryMs || rss < rssBudgetBytes || rss < lowestSinceCollection + growthStepBytes) return
  lastCollection = now
  lowestSinceCollection = rss
  Bun.gc(false)
}
