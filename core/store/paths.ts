import type { StorageClass } from '../db/schema'

export interface StorageRoots {
  hot: string
  cold: string
}

/** The top of a class root's blob tree. */
export const blobTreeDirectory = (root: string): string => `${root}/sha256`

/** `<root>/sha256/<ab>/<cd>/<64 hex>`: two fan-out levels keep directories small. */
export const blobFile = (root: string, hex: string): string => `${blobTreeDirectory(root)}/${hex.slice(0, 2)}/${hex.slice(2, 4)}/${hex}`

export function blobPath(roots: StorageRoots, storageClass: StorageClass, hex: string): string {
  return blobFile(roots[storageClass], hex)
}

/** Temp files live in the class's own root so the final rename never crosses a filesystem. */
export const tempDirectory = (root: string): string => `${root}/tmp`

/** An upload's temp file, named by its id so that a sweep can tell a live upload's file from a leftover. */
export const tempFile = (root: string, uploadId: string): string => `${tempDirectory(root)}/${uploadId}`


export const hexOf = (contentHash: string): string => contentHash.replace(/^sha256:/, '')
