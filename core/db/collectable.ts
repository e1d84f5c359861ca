import { and, lte, sql } from 'drizzle-orm'
import { blobs } from './schema'

/** Blobs GC may delete: unreferenced for at least the grace period (`= 0` written out, to match blobs_unreferenced_idx). */
export const collectable = (graceSecs: number) =>
  and(sql`${blobs.refCount} = 0`, lte(blobs.unreferencedSince, sql`now() - make_interval(secs => ${graceSecs})`))
