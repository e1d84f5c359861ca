import postgres from 'postgres'

/**
 * libpq's `?host=/dir` (a Unix socket directory) becomes postgres.js's `host`
 * option: postgres.js ignores it in the URL and would send it to the server
 * as a setting. A socket skips the TCP stack when the database runs beside
 * the service; the embedded cluster has nothing else.
 */
export function postgresTarget(databaseUrl: string): { url: string; host?: string } {
  const url = new URL(databaseUrl)
  const host = url.searchParams.get('host')
  if (!host?.startsWith('/')) return { url: databaseUrl }
  url.searchParams.delete('host')
  return { url: url.toString(), host }
}

/** A postgres.js client for a database URL, socket directories included. */
export function connectPostgres(databaseUrl: string, options: postgres.Options<{}> = {}): postgres.Sql {
  const { url, host } = postgresTarget(databaseUrl)
  return postgres(url, { onnotice: () => {}, ...options, host })
}
