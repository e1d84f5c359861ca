import { closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs'
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

/** Creates the parent directories of a path, each made durable in its own parent. */
export function ensureParentDirectory(path: string): void {
  const dir = dirname(path)
  const created = mkdirSync(dir, { recursive: true })
  if (created === undefined) return
  for (let d = dir; d.length >= created.length; d = dirname(d)) fsyncDirectory(dirname(d))
}
