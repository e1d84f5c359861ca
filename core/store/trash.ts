import { link, rename, unlink } from 'node:fs/promises'
import { tempDirectory } from './paths'

/**
 * Blob files that garbage collection takes out of the blob tree. GC renames a
 * file here while it holds the blob's row lock, so a commit waiting for that
 * lock can never find a file that is about to be unlinked; the unlink (slow for
 * a large file) and the directory syncs come after the row's deletion has
 * committed, outside any transaction. The name keeps the hash, so a file whose
 * row survived (a failed or interrupted pass) can be put back.
 */

const trashName = /^gc-([0-9a-f]{64})-[0-9a-f-]{36}$/

/** A fresh trash path for a blob file, in its root's temp directory (the same filesystem, so the rename is atomic). */
export function trashPath(root: string, hex: string): string {
  return `${tempDirectory(root)}/gc-${hex}-${crypto.randomUUID()}`
}

/** The hash a trash file's name keeps; null for any other name. */
export const trashedHex = (name: string): string | null => trashName.exec(name)?.[1] ?? null

/** Renames a blob file into the trash; false when there was no file (an inline blob). */
export async function moveToTrash(path: string, trash: string): Promise<boolean> {
  try {
    await rename(path, trash)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/**
 * Puts a trashed file back at its blob path unless a file is there already (a
 * commit's fresh copy, which must not be replaced), then drops the trash name.
 */
export async function restoreFromTrash(trash: string, path: string): Promise<void> {
  try {
    await link(trash, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  await unlink(trash)
}
