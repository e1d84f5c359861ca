import type { Progress } from './progress'

/** --limit-rate: at most this many bytes a second, over every transfer of the command (at most a second's burst after a pause). */
export class RateLimit {
  private since = performance.now()
  private moved = 0

  constructor(private readonly bytesPerSec: number) {}

  async take(bytes: number): Promise<void> {
    const now = performance.now()
    if (now - (this.since + (this.moved / this.bytesPerSec) * 1000) > 1000) {
      this.since = now
      this.moved = 0
    }
    this.moved += bytes
    const due = this.since + (this.moved / this.bytesPerSec) * 1000
    if (due > now) await Bun.sleep(due - now)
  }
}

/** `10M`, `512k`, `1G` (binary multiples), or plain bytes. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim())
  if (!match) return undefined
  const power = ['', 'k', 'm', 'g', 't'].indexOf(match[2]!.toLowerCase())
  return Math.floor(Number(match[1]) * 1024 ** power)
}

/** The stream, counted into the progress line and held to the rate limit as it flows. */
export function metered(source: ReadableStream<Uint8Array>, progress: Progress, limit: RateLimit | undefined, onBytes?: (bytes: number) => void): ReadableStream<Uint8Array> {
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        await limit?.take(chunk.length)
        controller.enqueue(chunk)
        progress.advance(chunk.length)
        onBytes?.(chunk.length)
      },
    }),
  )
}

/** SHA-256 of a file, streamed, with the progress line following. */
export async function hashFile(path: string, progress: Progress): Promise<Bun.CryptoHasher> {
  const hasher = new Bun.CryptoHasher('sha256')
  for await (const chunk of Bun.file(path).stream()) {
    hasher.update(chunk)
    progress.advance(chunk.length)
  }
  return hasher
}
