/**
 * The floor under an upload: receive the body, hash it, write it to a temp
 * file, fdatasync, rename, fsync the directory. No framework, no database.
 * POST /discard only reads the body: the upload client's own ceiling.
 * Usage: bun bench/bare-upload-server.ts <port> <dir>; answers like the service,
 * {"content_hash": "sha256:…", "size_bytes"}.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'

const [port, dir] = [Number(process.argv[2]), process.argv[3]!]

async function store(body: ReadableStream<Uint8Array>): Promise<Response> {
  const temp = `${dir}/upload-${crypto.randomUUID()}`
  const fd = openSync(temp, 'wx', 0o600)
  const hasher = new Bun.CryptoHasher('sha256')
  let size = 0
  for await (const chunk of body) {
    hasher.update(chunk)
    for (let off = 0; off < chunk.byteLength; ) off += writeSync(fd, chunk, off)
    size += chunk.byteLength
  }
  fdatasyncSync(fd)
  closeSync(fd)
  const hex = hasher.digest('hex')
  renameSync(temp, `${dir}/${hex}`)
  const dirFd = openSync(dir, 'r')
  fsyncSync(dirFd)
  closeSync(dirFd)
  return Response.json({ content_hash: `sha256:${hex}`, size_bytes: size }, { status: 201 })
}

async function discard(body: ReadableStream<Uint8Array>): Promise<Response> {
  let size = 0
  for await (const chunk of body) size += chunk.byteLength
  return Response.json({ size_bytes: size }, { status: 201 })
}

Bun.serve({
  hostname: '127.0.0.1',
  port,
  maxRequestBodySize: 2 ** 40,
  fetch: (request) => (new URL(request.url).pathname === '/discard' ? discard(request.body!) : store(request.body!)),
})
console.log('ready')
