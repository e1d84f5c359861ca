import { expect, test } from 'bun:test'
import { S3Client } from 'bun'
import { createHash, randomBytes } from 'node:crypto'
import { sharedS3, startCeph } from './ceph'

const MiB = 2 ** 20
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

test('S3 endpoint: put, multipart put, get, ranged get, list, delete, wrong secret refused', async () => {
  const s3 = await sharedS3()
  const bucket = await s3.createBucket()
  const client = s3.client(bucket)

  const small = new Uint8Array(randomBytes(4096))
  await client.write('small', small)

  // 12 MiB in 5 MiB parts: a multipart upload of three parts.
  const big = new Uint8Array(randomBytes(12 * MiB))
  const writer = client.file('big').writer({ partSize: 5 * MiB })
  for (let offset = 0; offset < big.length; offset += MiB) writer.write(big.subarray(offset, offset + MiB))
  await writer.end()
  // A multipart object's ETag is the MD5 of its parts' MD5s followed by the part count.
  expect((await client.file('big').stat()).etag).toMatch(/-3"?$/)

  const smallBack = await client.file('small').bytes()
  expect(smallBack.length).toBe(small.length)
  expect(sha256(smallBack)).toBe(sha256(small))
  const bigBack = await client.file('big').bytes()
  expect(bigBack.length).toBe(big.length)
  expect(sha256(bigBack)).toBe(sha256(big))

  // A range across the boundary of the first two parts.
  const [start, end] = [5 * MiB - 1000, 5 * MiB + 3000]
  const range = await client.file('big').slice(start, end).bytes()
  expect(range.length).toBe(end - start)
  expect(sha256(range)).toBe(sha256(big.subarray(start, end)))

  const listed = await client.list()
  expect((listed.contents ?? []).map(({ key, size }) => ({ key, size }))).toEqual([
    { key: 'big', size: big.length },
    { key: 'small', size: small.length },
  ])

  const impostor = new S3Client({ endpoint: s3.endpoint, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: `${s3.secretAccessKey}x`, bucket })
  await expect(impostor.file('small').bytes()).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' })
  await expect(impostor.write('planted', 'x')).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' })

  await client.delete('small')
  await client.delete('big')
  expect(await client.file('small').exists()).toBe(false)
  expect(await client.file('big').exists()).toBe(false)
  expect((await client.list()).contents ?? []).toEqual([])
  await s3.deleteBucket(bucket)
})

test.skipIf(Boolean(process.env.S3_ENDPOINT))('a daemon that dies while Ceph starts fails the start with its log', async () => {
  // An address RGW cannot bind: radosgw exits once its pools are made.
  const start = startCeph({ rgw: { rgw_frontends: 'beast endpoint=999.0.0.1:80' } })
  await expect(start).rejects.toThrow(/radosgw \(client\.rgw\) exited[\s\S]*--- client\.rgw\.log/)
})
