import { readdirSync } from 'node:fs'

/**
 * A directory's entries; a directory that is not there has none. Any other
 * failure (permissions, I/O) is thrown, never taken for an empty directory:
 * fsck would call a store consistent, and the start-up check would call a
 * root empty, that it could not read.
 */
export function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}
