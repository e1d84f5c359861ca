/**
 * Large bodies made on the fly, never held in memory whole: a 1 MiB block of
 * xorshift output seeded per repetition, each chunk stamped with its index, so
 * every chunk and every repetition differs. The same seed yields the same
 * bytes, which is how the expected hash is known before the upload.
 */
const chunkBytes = 2 ** 20

function seededBlock(seed: number): Uint8Array {
  const block = new Uint8Array(chunkBytes)
  const words = new Uint32Array(block.buffer)
  let x = (Math.imul(seed + 1, 0x9e3779b1) >>> 0) || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    words[i] = x >>> 0
  }
  return block
}

export function generatedBody(bytes: number, seed: number): ReadableStream<Uint8Array> {
  const block = seededBlock(seed)
  let sent = 0
  let index = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close()
      // A fresh buffer per chunk: the transport may still hold the previous one.
      const chunk = block.slice(0, Math.min(chunkBytes, bytes - sent))
      if (chunk.byteLength >= 8) new DataView(chunk.buffer).setFloat64(0, index++)
      sent += chunk.byteLength
      controller.enqueue(chunk)
    },
  })
}

export async function sha256Hex(stream: ReadableStream<Uint8Array>): Promise<{ hex: string; bytes: number }> {
  const hasher = new Bun.CryptoHasher('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    hasher.update(chunk)
    bytes += chunk.byteLength
  }
  return { hex: hasher.digest('hex'), bytes }
}

/** Bun's in-process SHA-256 rate over `bytes` in 1 MiB updates, in MiB/s. */
export function sha256Rate(bytes: number): number {
  const block = seededBlock(0)
  const hasher = new Bun.CryptoHasher('sha256')
  const started = performance.now()
  for (let done = 0; done < bytes; done += chunkBytes) hasher.update(block.subarray(0, Math.min(chunkBytes, bytes - done)))
  hasher.digest()
  return bytes / 2 ** 20 / ((performance.now() - started) / 1000)
}
