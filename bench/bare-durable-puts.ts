/**
 * The floor under a small upload: durable 4 KiB puts with nothing else, each
 * write + fdatasync + rename + directory fsync, `concurrency` at a time (async
 * fs runs on Bun's thread pool, so they really overlap) for `seconds`.
 * Usage: bun bench/bare-durable-puts.ts <dir> <seconds> <concurrency>; prints {"ops", "seconds"}.
 */
import { open, rename } from 'node:fs/promises'

const [dir, seconds, concurrency] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])]
const body = crypto.getRandomValues(new Uint8Array(4096))
let ops = 0

async function put(name: string): Promise<void> {
  const temp = `${dir}/${name}.tmp`
  const file = await open(temp, 'wx', 0o600)
  try {
    await file.write(body)
    await file.datasync()
  } finally {
    await file.close()
  }
  await rename(temp, `${dir}/${name}`)
  const directory = await open(dir, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

const started = performance.now()
const deadline = started + seconds * 1000
await Promise.all(
  Array.from({ length: concurrency }, async (_, worker) => {
    for (let i = 0; performance.now() < deadline; i++) {
      await put(`${worker}-${i}`)
      ops++
    }
  }),
)
console.log(JSON.stringify({ ops, seconds: (performance.now() - started) / 1000 }))
