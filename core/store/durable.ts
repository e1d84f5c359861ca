import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Makes a directory entry (a rename, a create, an unlink) survive power loss. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** fsyncDirectory off the event loop, for work no request waits on (GC's removals). */
export async function fsyncDirectoryAsync(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Creates the parent directories of a path, each made durable in its own parent. */
export function ensureParentDirectory(path: string): void {
  const dir = dirname(path)
  const created = mkdirSync(dir, { recursive: true })
  if (created === undefined) return
  for (let d = dir; d.length >= created.length; d = dirname(d)) fsyncDirectory(dirname(d))
}
