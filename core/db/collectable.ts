import { and, eq, lte, sql } from 'drizzle-orm'
import { blobs } from './schema'

/** Blobs GC may delete: unreferenced for at least the grace period. */
export const collectable = (graceSecs: number) =>
  and(eq(blobs.refCount, 0), lte(blobs.unreferencedSince, sql`now() - make_interval(secs => ${graceSecs})`))
