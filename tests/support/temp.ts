import { chmodSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A fresh directory under the system's temp dir that an embedded PostgreSQL
 * can live in: run as root, the cluster belongs to the `postgres` OS user,
 * which must be able to enter it (mkdtemp makes it 0700).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  return dir
}
