import { describe, expect, test } from 'bun:test'
// The pool's internal queue of postgres.js, as patched by patches/postgres+3.4.9.patch.
// @ts-expect-error: an internal module of the library, without type declarations
import Queue from '../../node_modules/postgres/src/queue.js'

interface Queue<T> {
  readonly length: number
  push(x: T): T
  shift(): T
  remove(x: T): T | null
}

/** An array that remembers the longest it has been; the queue copies it (and its slices) as its storage. */
class Watched<T> extends Array<T> {
  static longest = 0
  override push(...items: T[]): number {
    const length = super.push(...items)
    Watched.longest = Math.max(Watched.longest, length)
    return length
  }
}

describe('postgres.js connection queue', () => {
  // The pool moves a connection out of its busy queue with shift() and back
  // with remove() + push(), so that queue never drains; unpatched, every shift
  // left a dead slot behind, and each remove() scanned all of them.
  test('a queue that never drains keeps its storage bounded and its order', () => {
    Watched.longest = 0
    const queue: Queue<string> = Queue(Watched.from(['a', 'b']))
    const served: string[] = []
    for (let i = 0; i < 100_000; i++) {
      const connection = queue.shift()
      served.push(connection)
      expect(queue.remove(connection)).toBeNull()
      queue.push(connection)
    }
    expect(queue.length).toBe(2)
    expect(Watched.longest).toBeLessThan(4096)
    expect(served.slice(0, 4)).toEqual(['a', 'b', 'a', 'b'])
    expect(served.every((connection, i) => connection === (i % 2 === 0 ? 'a' : 'b'))).toBe(true)
  })

  test('remove takes out a live entry once, wherever it sits', () => {
    const queue: Queue<number> = Queue([])
    for (let i = 0; i < 3000; i++) queue.push(i)
    for (let i = 0; i < 2000; i++) expect(queue.shift()).toBe(i)
    expect(queue.remove(10)).toBeNull()
    expect(queue.remove(2500)).toBe(2500)
    expect(queue.remove(2500)).toBeNull()
    expect(queue.length).toBe(999)
    const rest: number[] = []
    while (queue.length > 0) rest.push(queue.shift())
    expect(rest).toEqual([...Array.from({ length: 500 }, (_, i) => 2000 + i), ...Array.from({ length: 499 }, (_, i) => 2501 + i)])
  })
})
