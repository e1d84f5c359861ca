/** PostgreSQL timestamptz text ("2026-01-02 03:04:05.678901+00") as a Date. */
export function parseDbTime(value: string): Date {
  return new Date(value.replace(' ', 'T').replace(/([+-]\d\d)(:?\d\d)?$/, (_, h, m) => `${h}:${(m ?? '00').replace(':', '')}`))
}
