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

  /** The bytes of resumable upload sessions. */
  readonly sessions: SessionBytes
}

/**
 * A resumable session's bytes, kept where an upload's staged bytes are (so the
 * leftover sweep knows them by the session's id). Every call runs while the
 * session's row is locked; what a call returns becomes the session's once the
 * row records it, so a call that fails, or whose answer is never recorded,
 * leaves the session as it was.
 */
export interface SessionBytes {
  /**
   * Appends a body at `at.offset`, first dropping anything stored past it (a
   * request that was never acknowledged). Each byte kept goes to `take`, in
   * order. Resolves once what it kept is durable, also when the body broke off
   * (`broke`: the client's error); throws, keeping nothing, on any other failure.
   */
  append(sessionId: string, at: SessionPosition, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, take: (chunk: Uint8Array) => void): Promise<Appended>
  /** Turns the session's bytes into the staged bytes of upload `sessionId`, for place(); a sealed session takes no more bytes. */
  seal(sessionId: string, at: SessionPosition): Promise<SessionPosition>
  /** The sealed bytes, for hashing them again when the hash kept while they arrived is gone (a restart, another replica). */
  readSealed(sessionId: string, at: SessionPosition): ReadableStream<Uint8Array>
  /** Removes the session's bytes, sealed or not. */
  remove(sessionId: string, at: SessionPosition): Promise<void>
}

/** What a store keeps of a session: its length, the store's own record (a multipart upload's parts), and bytes not yet in a part. */
export interface SessionPosition {
  offset: number
  state: Record<string, unknown>
  tail: Uint8Array | null
}

export interface Appended {
  at: SessionPosition
  broke: Error | null
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
