import type { StorageClass } from '../db/schema'

export interface StorageRoots {
  hot: string
  cold: string
}

/** The top of a class root's blob tree. */
export const blobTreeDirectory = (root: string): string => `${root}/sha256`

/** `<root>/sha256/<ab>/<cd>/<64 hex>`: two fan-out levels keep directories small. */
export function blobPath(roots: StorageRoots, storageClass: StorageClass, hex: string): string {
  return `${blobTreeDirectory(roots[storageClass])}/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`
}

/** Temp files live in the class's own root so the final rename never crosses a filesystem. */
export const tempDirectory = (root: string): string => `${root}/tmp`

/** An upload's temp file, named by its id so that a sweep can tell a live upload's file from a leftover. */
export function tempPath(roots: StorageRoots, storageClass: StorageClass, uploadId: string): string {
  return `${tempDirectory(roots[storageClass])}/${uploadId}`
}

export const hexOf = (contentHash: string): string => contentHash.replace(/^sha256:/, '')
