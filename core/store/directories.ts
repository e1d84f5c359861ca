import { readdirSync } from 'node:fs'
import { blobTreeDirectory } from './paths'

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

/** Every file of a class root's blob tree (`<root>/sha256/<ab>/<cd>/<name>`), lazily, so a caller may stop at the first. */
export function* blobFilesUnder(root: string): Generator<string> {
  const base = blobTreeDirectory(root)
  for (const a of entriesOf(base)) {
    for (const b of entriesOf(`${base}/${a}`)) {
      for (const name of entriesOf(`${base}/${a}/${b}`)) yield `${base}/${a}/${b}/${name}`
    }
  }
}
