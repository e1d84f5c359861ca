import type { StorageClass } from '../db/schema'
import type { BodyHead, WrittenFile } from './writer'

/**
 * Where the blobs of one storage class are kept (a directory; see fs.ts). The
 * object lifecycle, downloads, garbage collection and the scrubber use this and
 * nothing else, so none of them knows which backend holds a blob. The database
 * decides what exists: a blob's bytes are placed while its row is locked and
 * taken away only under that same lock.
 */
export interface BlobStore {
  /** The directory, for logs and status. */
  readonly location: string

  /** Streams a body (its head already read, then the rest) to an upload's staging place, hashing it; durable when it resolves, nothing left when it throws. */
  stage(uploadId: string, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<WrittenFile>
  /** Whether an upload's staged bytes are still there (the stuck-upload reaper may have removed them). */
  isStaged(uploadId: string): Promise<boolean>
  /** Makes an upload's staged bytes the blob `hex`, durably. Runs while the blob's row is locked, before the commit. */
  place(uploadId: string, hex: string): Promise<void>
  /** Removes an upload's staged bytes; false when there were none. */
  discard(uploadId: string): Promise<boolean>

  /** A blob's stored size; null when it is missing. */
  size(hex: string): Promise<number | null>
  /** Bytes [start, end) of a blob, as a body a Response streams: a Blob where Bun can send a file itself, else a stream. */
  read(hex: string, start: number, end: number): Blob | ReadableStream<Uint8Array>
  /**
   * Takes a blob out of reach while its row is locked. The removal completes it
   * once the row's deletion has committed, or undoes it when that failed. Null
   * when there was nothing to take (the blob's bytes were inline).
   */
  takeOut(hex: string): Promise<Removal | null>
  /** Every stored blob with its age, lazily: a caller may stop at the first. */
  blobs(): AsyncIterable<StoredBlob>
  /** What an upload or a removal left behind (a crash, a reaped upload, a failed pass), with its age. */
  leftovers(): AsyncIterable<Leftover>

  /** What keeps the store from taking a blob now ("storage root not writable"); null when nothing does. */
  readiness(): Promise<string | null>
}

export type BlobStores = Record<StorageClass, BlobStore>

export interface StoredBlob {
  hex: string
  ageMs: number
}

export interface Removal {
  /** Finishes the removal; false when it could not (counted and logged, for a later pass). */
  finish(): Promise<boolean>
  /** Puts the blob back. */
  undo(): Promise<void>
}

/**
 * A leftover, by where it is (a path or a key): the staged bytes of an upload
 * (its id, when the name holds one), or a blob taken out by a pass that did not
 * finish (its hash): it goes with its row, or back if the row survived.
 */
export type Leftover = { name: string; ageMs: number; remove(): Promise<boolean> } & (
  | { kind: 'staged'; uploadId: string | null }
  | { kind: 'taken-out'; hex: string; restore(): Promise<void> }
)
