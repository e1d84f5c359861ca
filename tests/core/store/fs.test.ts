import { expect, test } from 'bun:test'
import { mkdirSync, rmSync } from 'node:fs'
import { FileBlobStore } from '../../../core/store/fs'
import { tempDirectory } from '../../../core/store/paths'
import { tempDir } from '../../support/temp'
import { describeBlobStore, randomBytes, sha256, stage } from './conformance'

function openFileStore() {
  const root = tempDir('juststorage-fs-store-')
  mkdirSync(tempDirectory(root), { recursive: true })
  return { root, store: new FileBlobStore(root), close: async () => rmSync(root, { recursive: true, force: true }) }
}

describeBlobStore('filesystem', async () => openFileStore())

test('a directory puts a blob whose removal is undone back, and shows one a pass left taken out', async () => {
  const { store, close } = openFileStore()
  try {
    const bytes = randomBytes(4_000)
    const id = crypto.randomUUID()
    const { hex } = await stage(store, id, bytes)
    await store.place(id, hex)
    await (await store.takeOut(hex))!.undo()
    expect(await store.size(hex)).toBe(bytes.byteLength)

    // A pass that stopped between taking a blob out and finishing: the leftover keeps the hash, and restores it.
    await store.takeOut(hex)
    const leftovers = []
    for await (const leftover of store.leftovers()) leftovers.push(leftover)
    expect(leftovers).toHaveLength(1)
    const [takenOut] = leftovers
    expect(takenOut).toMatchObject({ kind: 'taken-out', hex })
    if (takenOut?.kind !== 'taken-out') throw new Error('not a taken-out leftover')
    await takenOut.restore()
    expect(sha256(new Uint8Array(await new Response(store.read(hex, 0, bytes.byteLength)).arrayBuffer()))).toBe(hex)
  } finally {
    await close()
  }
})
