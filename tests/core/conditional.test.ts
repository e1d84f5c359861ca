import { describe, expect, test } from 'bun:test'
import { ApiError } from '../../core/errors'
import { decideRead, parseEntityTags, parseHttpDate, parseRange, type ReadHeaders } from '../../core/http/conditional'

const etag = '"sha256:aaaa"'
const otherEtag = '"sha256:bbbb"'
// Milliseconds on purpose: HTTP dates have second precision, comparisons must truncate.
const lastModified = new Date('2024-03-10T12:34:56.789Z')
const representation = { etag, lastModified, size: 100 }

const httpDate = (date: Date) => date.toUTCString()
const atModified = httpDate(lastModified) // Sun, 10 Mar 2024 12:34:56 GMT
const secondBefore = httpDate(new Date(lastModified.getTime() - 1000))
const secondAfter = httpDate(new Date(lastModified.getTime() + 1000))

const none: ReadHeaders = { ifMatch: null, ifNoneMatch: null, ifModifiedSince: null, ifUnmodifiedSince: null, ifRange: null, range: null }
const decide = (headers: Partial<ReadHeaders>, isHead = false) => decideRead(representation, { ...none, ...headers }, isHead)

/** The ApiError a call throws, so tests can assert on its code and headers. */
function thrown(run: () => unknown): ApiError {
  try {
    run()
  } catch (error) {
    if (error instanceof ApiError) return error
    throw error
  }
  throw new Error('expected an ApiError, nothing was thrown')
}

describe('parseEntityTags', () => {
  test('a single strong tag keeps its quotes', () => {
    expect(parseEntityTags(etag)).toEqual([etag])
  })

  test('a list, with and without spaces, keeps weak prefixes', () => {
    expect(parseEntityTags(`"a", W/"b",${etag}`)).toEqual(['"a"', 'W/"b"', etag])
  })

  test('* alone (with surrounding space) is the wildcard', () => {
    expect(parseEntityTags('*')).toBe('*')
    expect(parseEntityTags('  * ')).toBe('*')
  })

  test('unquoted values are not entity tags', () => {
    expect(parseEntityTags('sha256:aaaa')).toEqual([])
    expect(parseEntityTags('')).toEqual([])
  })

  test('the empty tag "" is a tag', () => {
    expect(parseEntityTags('""')).toEqual(['""'])
  })
})

describe('parseHttpDate', () => {
  const expected = new Date('1994-11-06T08:49:37Z')

  test('all three RFC 9110 forms, read as UTC', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toEqual(expected)
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toEqual(expected)
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toEqual(expected)
  })

  test('what Date.toUTCString writes reads back', () => {
    expect(parseHttpDate(atModified)).toEqual(new Date('2024-03-10T12:34:56Z'))
  })

  test('RFC 850 two-digit years more than 50 years ahead fall in the past century', () => {
    const thisYear = new Date().getUTCFullYear()
    const yy = (thisYear + 60) % 100
    const year = parseHttpDate(`Monday, 01-Jan-${String(yy).padStart(2, '0')} 00:00:00 GMT`)!.getUTCFullYear()
    expect(year).toBe(thisYear + 60 - 100)
    expect(parseHttpDate(`Monday, 01-Jan-${String(thisYear % 100).padStart(2, '0')} 00:00:00 GMT`)!.getUTCFullYear()).toBe(thisYear)
  })

  test('anything that is not an HTTP-date is null, even what Date.parse accepts', () => {
    for (const value of [
      '1',
      '0',
      '2024',
      'foo 5',
      'garbage',
      '',
      '2024-03-10T12:34:56Z',
      'Sun, 06 Nov 1994 08:49:37 +0100',
      'Sun, 06 Nov 1994 08:49:37',
      'sun, 06 nov 1994 08:49:37 gmt',
      'Sun, 6 Nov 1994 08:49:37 GMT',
      'Tue, 31 Feb 2024 00:00:00 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:60:00 GMT',
      'Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT',
    ]) {
      expect({ value, parsed: parseHttpDate(value) }).toEqual({ value, parsed: null })
    }
  })
})

describe('parseRange', () => {
  const size = 100
  const partial = (start: number, end: number) => ({ kind: 'partial' as const, start, end })

  test('bytes=a-b is inclusive of b (end is exclusive in the result)', () => {
    expect(parseRange('bytes=0-0', size)).toEqual(partial(0, 1))
    expect(parseRange('bytes=5-9', size)).toEqual(partial(5, 10))
    expect(parseRange('bytes=0-99', size)).toEqual(partial(0, 100))
    expect(parseRange('bytes=99-99', size)).toEqual(partial(99, 100))
  })

  test('an end beyond the object is clamped to its last byte', () => {
    expect(parseRange('bytes=90-1000', size)).toEqual(partial(90, 100))
    expect(parseRange('bytes=0-99999999999999999999', size)).toEqual(partial(0, 100))
  })

  test('bytes=a- runs to the end', () => {
    expect(parseRange('bytes=5-', size)).toEqual(partial(5, 100))
    expect(parseRange('bytes=99-', size)).toEqual(partial(99, 100))
    expect(parseRange('bytes=0-', size)).toEqual(partial(0, 100))
  })

  test('bytes=-n is the last n bytes; n larger than the object is all of it', () => {
    expect(parseRange('bytes=-3', size)).toEqual(partial(97, 100))
    expect(parseRange('bytes=-100', size)).toEqual(partial(0, 100))
    expect(parseRange('bytes=-1000', size)).toEqual(partial(0, 100))
  })

  test('unit is case-insensitive and optional whitespace is allowed', () => {
    expect(parseRange('Bytes=5-9', size)).toEqual(partial(5, 10))
    expect(parseRange(' bytes = 5-9 ', size)).toEqual(partial(5, 10))
  })

  test('a start at or past the end is 416 with Content-Range: bytes */size', () => {
    for (const header of ['bytes=100-', 'bytes=100-200', 'bytes=1000-']) {
      const error = thrown(() => parseRange(header, size))
      expect({ header, code: error.code, status: error.status, headers: error.headers }).toEqual({
        header,
        code: 'range_not_satisfiable',
        status: 416,
        headers: { 'content-range': 'bytes */100' },
      })
    }
  })

  test('a zero-length suffix is unsatisfiable', () => {
    expect(thrown(() => parseRange('bytes=-0', size)).code).toBe('range_not_satisfiable')
  })

  test('every range of an empty object is unsatisfiable', () => {
    for (const header of ['bytes=0-', 'bytes=0-0', 'bytes=-1']) {
      const error = thrown(() => parseRange(header, 0))
      expect({ header, code: error.code, headers: error.headers }).toEqual({ header, code: 'range_not_satisfiable', headers: { 'content-range': 'bytes */0' } })
    }
  })

  test('malformed ranges are 400 invalid_range', () => {
    for (const header of ['bytes=abc', 'items=0-1', 'bytes=5-2', 'bytes=-', 'bytes=', 'bytes', '0-1', 'bytes=1-2-3', 'bytes=-5-', 'bytes=0x1-2', 'bytes=1.5-2', 'bytes=0-1,5-2']) {
      const error = thrown(() => parseRange(header, size))
      expect({ header, code: error.code, status: error.status }).toEqual({ header, code: 'invalid_range', status: 400 })
    }
  })

  test('several ranges are answered with the whole object', () => {
    expect(parseRange('bytes=0-1,5-9', size)).toEqual({ kind: 'full' })
    expect(parseRange('bytes=0-1, -3', size)).toEqual({ kind: 'full' })
  })
})

describe('decideRead', () => {
  test('no conditions and no Range → the whole object', () => {
    expect(decide({})).toEqual({ kind: 'full' })
  })

  test('a Range → that part', () => {
    expect(decide({ range: 'bytes=5-9' })).toEqual({ kind: 'partial', start: 5, end: 10 })
  })

  test('HEAD ignores Range, even a malformed or unsatisfiable one', () => {
    expect(decide({ range: 'bytes=5-9' }, true)).toEqual({ kind: 'full' })
    expect(decide({ range: 'bytes=abc' }, true)).toEqual({ kind: 'full' })
    expect(decide({ range: 'bytes=1000-' }, true)).toEqual({ kind: 'full' })
  })

  describe('If-Match', () => {
    test('matching (alone, in a list, or *) → proceed', () => {
      expect(decide({ ifMatch: etag })).toEqual({ kind: 'full' })
      expect(decide({ ifMatch: `${otherEtag}, ${etag}` })).toEqual({ kind: 'full' })
      expect(decide({ ifMatch: '*' })).toEqual({ kind: 'full' })
    })

    test('not matching → 412', () => {
      expect(thrown(() => decide({ ifMatch: otherEtag })).code).toBe('precondition_failed')
      expect(thrown(() => decide({ ifMatch: 'sha256:aaaa' })).code).toBe('precondition_failed')
    })

    test('uses strong comparison: a weak tag never matches', () => {
      expect(thrown(() => decide({ ifMatch: `W/${etag}` })).code).toBe('precondition_failed')
    })

    test('beats If-Unmodified-Since: a matching If-Match ignores a failing date', () => {
      expect(decide({ ifMatch: etag, ifUnmodifiedSince: secondBefore })).toEqual({ kind: 'full' })
    })

    test('a failing If-Match is 412 even when If-None-Match would give 304', () => {
      expect(thrown(() => decide({ ifMatch: otherEtag, ifNoneMatch: etag })).code).toBe('precondition_failed')
    })

    test('a failing If-Match is 412 before a malformed Range is looked at', () => {
      expect(thrown(() => decide({ ifMatch: otherEtag, range: 'bytes=abc' })).code).toBe('precondition_failed')
    })
  })

  describe('If-Unmodified-Since', () => {
    test('earlier than Last-Modified → 412', () => {
      const error = thrown(() => decide({ ifUnmodifiedSince: secondBefore }))
      expect({ code: error.code, status: error.status }).toEqual({ code: 'precondition_failed', status: 412 })
    })

    test('equal to (sub-second part ignored) or later than Last-Modified → proceed', () => {
      expect(decide({ ifUnmodifiedSince: atModified })).toEqual({ kind: 'full' })
      expect(decide({ ifUnmodifiedSince: secondAfter })).toEqual({ kind: 'full' })
    })

    test('an invalid date is ignored', () => {
      for (const value of ['garbage', '1', '2001', '2020-01-01T00:00:00Z']) expect(decide({ ifUnmodifiedSince: value })).toEqual({ kind: 'full' })
    })
  })

  describe('If-None-Match', () => {
    test('matching (exact, in a list, weak form, *) → 304', () => {
      for (const value of [etag, `${otherEtag}, ${etag}`, `W/${etag}`, `"x",W/${etag}`, '*']) {
        expect({ value, decision: decide({ ifNoneMatch: value }) }).toEqual({ value, decision: { kind: 'not-modified' } })
      }
    })

    test('not matching → proceed, Range still honoured', () => {
      expect(decide({ ifNoneMatch: otherEtag })).toEqual({ kind: 'full' })
      expect(decide({ ifNoneMatch: otherEtag, range: 'bytes=0-0' })).toEqual({ kind: 'partial', start: 0, end: 1 })
    })

    test('beats If-Modified-Since: a non-matching If-None-Match ignores a date that would give 304', () => {
      expect(decide({ ifNoneMatch: otherEtag, ifModifiedSince: secondAfter })).toEqual({ kind: 'full' })
    })

    test('a matching If-None-Match gives 304 even when If-Modified-Since is older', () => {
      expect(decide({ ifNoneMatch: etag, ifModifiedSince: secondBefore })).toEqual({ kind: 'not-modified' })
    })

    test('304 wins over a Range, even an unsatisfiable one', () => {
      expect(decide({ ifNoneMatch: etag, range: 'bytes=5-9' })).toEqual({ kind: 'not-modified' })
      expect(decide({ ifNoneMatch: etag, range: 'bytes=1000-' })).toEqual({ kind: 'not-modified' })
    })

    test('on HEAD too', () => {
      expect(decide({ ifNoneMatch: etag }, true)).toEqual({ kind: 'not-modified' })
    })
  })

  describe('If-Modified-Since', () => {
    test('equal to (sub-second part ignored) or later than Last-Modified → 304', () => {
      expect(decide({ ifModifiedSince: atModified })).toEqual({ kind: 'not-modified' })
      expect(decide({ ifModifiedSince: secondAfter })).toEqual({ kind: 'not-modified' })
    })

    test('earlier → the object', () => {
      expect(decide({ ifModifiedSince: secondBefore })).toEqual({ kind: 'full' })
    })

    test('an invalid date is ignored', () => {
      for (const value of ['garbage', '1', '9999', 'foo 5']) expect(decide({ ifModifiedSince: value })).toEqual({ kind: 'full' })
    })

    test('If-Unmodified-Since is checked before If-Modified-Since', () => {
      expect(thrown(() => decide({ ifUnmodifiedSince: secondBefore, ifModifiedSince: secondAfter })).code).toBe('precondition_failed')
    })
  })

  describe('If-Range', () => {
    test('without Range it is ignored', () => {
      expect(decide({ ifRange: otherEtag })).toEqual({ kind: 'full' })
    })

    test('the current ETag → the range', () => {
      expect(decide({ ifRange: etag, range: 'bytes=5-9' })).toEqual({ kind: 'partial', start: 5, end: 10 })
    })

    test('another ETag → the whole object', () => {
      expect(decide({ ifRange: otherEtag, range: 'bytes=5-9' })).toEqual({ kind: 'full' })
    })

    test('a weak ETag never matches (strong comparison)', () => {
      expect(decide({ ifRange: `W/${etag}`, range: 'bytes=5-9' })).toEqual({ kind: 'full' })
    })

    test('a date exactly equal to Last-Modified → the range; any other date → the whole object', () => {
      expect(decide({ ifRange: atModified, range: 'bytes=5-9' })).toEqual({ kind: 'partial', start: 5, end: 10 })
      expect(decide({ ifRange: secondBefore, range: 'bytes=5-9' })).toEqual({ kind: 'full' })
      expect(decide({ ifRange: secondAfter, range: 'bytes=5-9' })).toEqual({ kind: 'full' })
    })

    test('an invalid date → the whole object', () => {
      expect(decide({ ifRange: 'garbage', range: 'bytes=5-9' })).toEqual({ kind: 'full' })
    })

    test('a failing If-Range skips Range parsing, so a malformed Range is not an error', () => {
      expect(decide({ ifRange: otherEtag, range: 'bytes=abc' })).toEqual({ kind: 'full' })
    })
  })
})
