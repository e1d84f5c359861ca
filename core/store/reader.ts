import { open, type FileHandle } from 'node:fs/promises'

const chunkBytes = 1 << 20

export interface OpenedBlob {
  handle: FileHandle
  sizeBytes: number
}

/** Opens a blob file; null when it is not there. The open handle keeps the bytes readable even if the file is unlinked later. */
export async function openBlob(path: string): Promise<OpenedBlob | null> {
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
  const { size } = await handle.stat()
  return { handle, sizeBytes: size }
}

/** Streams bytes [start, end) of an opened blob and closes it when done or cancelled. */
export function streamBlob(handle: FileHandle, start: number, end: number, onBytes: (n: number) => void = () => {}): ReadableStream<Uint8Array> {
  let position = start
  return new ReadableStream({
    type: 'bytes',
    async pull(controller) {
      const length = Math.min(chunkBytes, end - position)
      if (length <= 0) {
        await handle.close()
        controller.close()
        return
      }
      const chunk = new Uint8Array(length)
      const { bytesRead } = await handle.read(chunk, 0, length, position)
      if (bytesRead === 0) {
        await handle.close()
        controller.error(new Error('blob file shorter than its recorded size'))
        return
      }
      position += bytesRead
      onBytes(bytesRead)
      controller.enqueue(bytesRead === length ? chunk : chunk.subarray(0, bytesRead))
    },
    async cancel() {
      await handle.close()
    },
  })
}
