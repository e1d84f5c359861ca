import { accessSync, closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, renameSync, statSync } from 'node:fs'
import { stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { log } from '../log'
import { gcUnremovableFiles } from '../metrics'
import type { Appended, BlobStore, Leftover, Removal, SessionBytes, SessionPosition, StoredBlob } from './blob-store'
import { entriesOf } from './directories'
import { ensureParentDirectory, fsyncDirectory, fsyncDirectoryAsync } from './durable'
import { blobFile, blobTreeDirectory, tempDirectory, tempFile } from './paths'
import { moveToTrash, restoreFromTrash, trashedHex, trashPath } from './trash'
import { removeFile, streamIntoFile, writeStreamToFile, type BodyHead, type WrittenFile } from './writer'

/**
 * Blobs as files under a root directory: `<root>/sha256/<ab>/<cd>/<hex>`, and
 * `<root>/tmp` for uploads in flight and blobs being removed (one filesystem,
 * so every move is an atomic rename). Work no request waits on (removals,
 * their directory syncs, listings) runs off the event loop.
 */
export class FileBlobStore implements BlobStore {
  /** Directory syncs requested and not yet started: removals finished together share one per directory. */
  private readonly pendingSyncs = new Map<string, Promise<void>>()

  readonly sessions: SessionBytes

  constructor(readonly location: string) {
    this.sessions = new FileSessions(location)
  }

  stage(uploadId: string, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number): Promise<WrittenFile> {
    return writeStreamToFile(head, reader, tempFile(this.location, uploadId), maxBytes)
  }

  async isStaged(uploadId: string): Promise<boolean> {
    return existsSync(tempFile(this.location, uploadId))
  }

  /**
   * Renames the verified temp file to the blob's path, over any file there: that
   * file may have been damaged in place since it was written, and a rename is
   * atomic (a reader of the old file keeps it) and cheap next to the sync already
   * paid. It also replaces a leftover from a crashed commit, and makes new and
   * duplicate content take the same time.
   */
  async place(uploadId: string, hex: string): Promise<void> {
    const path = blobFile(this.location, hex)
    ensureParentDirectory(path)
    renameSync(tempFile(this.location, uploadId), path)
    fsyncDirectory(dirname(path))
  }

  async discard(uploadId: string): Promise<boolean> {
    return removeFile(tempFile(this.location, uploadId))
  }

  async size(hex: string): Promise<number | null> {
    try {
      return statSync(blobFile(this.location, hex)).size
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
  }

  /** A file-backed body lets Bun sendfile it; once Bun has opened the file, an unlink by garbage collection cannot cut it short. */
  read(hex: string, start: number, end: number): Blob {
    return Bun.file(blobFile(this.location, hex)).slice(start, end)
  }

  /**
   * Renames the file into the trash: a commit waiting for the row lock can never
   * find a file about to be unlinked. The unlink (slow for a large file) and the
   * directory syncs come after the row's deletion has committed.
   */
  async takeOut(hex: string): Promise<Removal | null> {
    const path = blobFile(this.location, hex)
    const trash = trashPath(this.location, hex)
    if (!(await moveToTrash(path, trash))) return null
    const dirs = [dirname(path), dirname(trash)]
    return {
      finish: async () => {
        const removed = await removeLeftover(trash)
        await this.syncDirectories(dirs)
        return removed
      },
      undo: async () => {
        await restoreFromTrash(trash, path)
        await this.syncDirectories(dirs)
      },
    }
  }

  async *blobs(): AsyncIterable<StoredBlob> {
    const base = blobTreeDirectory(this.location)
    for (const a of entriesOf(base)) {
      for (const b of entriesOf(`${base}/${a}`)) {
        const dir = `${base}/${a}/${b}`
        for (const name of entriesOf(dir)) {
          if (!/^[0-9a-f]{64}$/.test(name)) continue
          const ageMs = await ageOf(`${dir}/${name}`)
          if (ageMs !== null) yield { hex: name, ageMs }
        }
      }
    }
  }

  async *leftovers(): AsyncIterable<Leftover> {
    const dir = tempDirectory(this.location)
    for (const name of entriesOf(dir)) {
      const path = `${dir}/${name}`
      const ageMs = await ageOf(path)
      if (ageMs === null) continue
      const remove = () => removeLeftover(path)
      const hex = trashedHex(name)
      if (hex === null) {
        yield { kind: 'staged', name: path, uploadId: name, ageMs, remove }
        continue
      }
      const home = blobFile(this.location, hex)
      yield {
        kind: 'taken-out',
        name: path,
        hex,
        ageMs,
        remove,
        restore: async () => {
          ensureParentDirectory(home)
          await restoreFromTrash(path, home)
          await this.syncDirectories([dirname(home), dir])
        },
      }
    }
  }

  /** Uploads write into <root>/tmp and rename into <root>/sha256: both must be writable. */
  async readiness(): Promise<string | null> {
    if (!writableDirectory(this.location)) return 'storage root not writable'
    if (!writableDirectory(tempDirectory(this.location))) return 'storage temp directory not writable'
    return null
  }

  /** Makes removals durable; a failure loses nothing (a file that comes back is a leftover for a later pass). */
  private async syncDirectories(dirs: string[]): Promise<void> {
    await Promise.all([...new Set(dirs)].map((dir) => this.syncSoon(dir)))
  }

  /** A sync of `dir` that starts on the next turn of the event loop, shared by every caller until it starts. */
  private syncSoon(dir: string): Promise<void> {
    const pending = this.pendingSyncs.get(dir)
    if (pending) return pending
    const sync = (async () => {
      await Bun.sleep(0)
      this.pendingSyncs.delete(dir)
      await fsyncDirectoryAsync(dir).catch((error) => log.warn({ msg: 'gc could not sync a directory', path: dir, error: String((error as Error)?.message ?? error) }))
    })()
    this.pendingSyncs.set(dir, sync)
    return sync
  }
}

function writableDirectory(path: string): boolean {
  try {
    accessSync(path, constants.W_OK | constants.X_OK)
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Milliseconds since a file last changed; null when it is gone. */
async function ageOf(path: string): Promise<number | null> {
  try {
    return Date.now() - (await stat(path)).mtimeMs
  } catch {
    return null
  }
}

/** Unlinks a leftover file; false when it was gone already or cannot be removed (counted and logged, for a later pass). */
async function removeLeftover(path: string): Promise<boolean> {
  try {
    await unlink(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      gcUnremovableFiles.inc()
      log.warn({ msg: 'gc could not remove a file; it is left for a later pass', path, error: String((error as Error)?.message ?? error) })
    }
    return false
  }
}

/**
 * A session's bytes as its temp file, written in place: sealing it is nothing,
 * and place() renames it into the blob tree like any upload's.
 */
class FileSessions implements SessionBytes {
  constructor(private readonly root: string) {}

  async append(sessionId: string, at: SessionPosition, head: BodyHead, reader: ReadableStreamDefaultReader<Uint8Array>, maxBytes: number, take: (chunk: Uint8Array) => void): Promise<Appended> {
    const path = tempFile(this.root, sessionId)
    const { fd, created } = this.open(path, at.offset)
    try {
      ftruncateSync(fd, at.offset)
      const streamed = await streamIntoFile(fd, at.offset, head, reader, maxBytes, take, true)
      // The first bytes created the file: its directory entry must survive a crash too.
      if (created) fsyncDirectory(tempDirectory(this.root))
      return { at: { offset: at.offset + streamed.sizeBytes, state: {}, tail: null }, broke: streamed.broke }
    } finally {
      closeSync(fd)
    }
  }

  async seal(sessionId: string, at: SessionPosition): Promise<SessionPosition> {
    const path = tempFile(this.root, sessionId)
    const { fd, created } = this.open(path, at.offset)
    try {
      // Bytes past the offset are an unacknowledged request's.
      ftruncateSync(fd, at.offset)
      if (created) fsyncDirectory(tempDirectory(this.root))
    } finally {
      closeSync(fd)
    }
    return at
  }

  readSealed(sessionId: string, at: SessionPosition): ReadableStream<Uint8Array> {
    return Bun.file(tempFile(this.root, sessionId)).slice(0, at.offset).stream()
  }

  async remove(sessionId: string): Promise<void> {
    removeFile(tempFile(this.root, sessionId))
  }

  /** The session's file: created for a session with no bytes yet; one that should hold acknowledged bytes and does not is lost data, never silently restarted. */
  private open(path: string, offset: number): { fd: number; created: boolean } {
    try {
      const fd = openSync(path, 'r+')
      const size = fstatSync(fd).size
      if (size < offset) {
        closeSync(fd)
        throw new Error(`the session file ${path} holds ${size} of its ${offset} acknowledged bytes`)
      }
      return { fd, created: false }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      if (offset > 0) throw new Error(`the session file ${path} with ${offset} acknowledged bytes is missing`)
      ensureParentDirectory(path)
      return { fd: openSync(path, 'wx', 0o600), created: true }
    }
  }
}
