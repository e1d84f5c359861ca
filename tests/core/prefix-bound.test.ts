import { expect, test } from 'bun:test'
import { prefixUpperBound } from '../../core/listing'

const max = String.fromCodePoint(0x10ffff)
const startsWith = (key: string, prefix: string) => key.startsWith(prefix)
// Code point order is UTF-8 byte order, the keys' collation; JavaScript's < compares UTF-16 units, so compare bytes.
const below = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0

test('the bound grows the last character that can grow', () => {
  expect(prefixUpperBound('logs/')).toBe('logs0')
  expect(prefixUpperBound('a')).toBe('b')
  expect(prefixUpperBound(`a${max}`)).toBe('b')
  expect(prefixUpperBound(`${max}${max}`)).toBeNull()
  // The surrogate range holds no characters: the next after U+D7FF is U+E000.
  expect(prefixUpperBound('\u{d7ff}')).toBe('\u{e000}')
})

test('every key with the prefix lies below the bound, and every key at or above it lacks the prefix', () => {
  const prefixes = ['logs/', 'a', `x${max}`, 'é', '\u{d7ff}', '😀']
  const keys = ['logs/', 'logs/a', `logs/${max}${max}`, 'logs0', 'a', `a${max}`, 'b', `x${max}`, `x${max}z`, 'y', 'é', 'éz', 'ê', '\u{d7ff}!', '\u{e000}', '😀😀', '😁']
  for (const prefix of prefixes) {
    const bound = prefixUpperBound(prefix)!
    for (const key of keys) {
      if (startsWith(key, prefix)) expect({ prefix, key, below: below(key, bound) }).toEqual({ prefix, key, below: true })
      if (!below(key, bound)) expect({ prefix, key, starts: startsWith(key, prefix) }).toEqual({ prefix, key, starts: false })
    }
  }
})
