import { sql, type AnyColumn, type SQL } from 'drizzle-orm'

/**
 * `column = any($1)`: a list as one text[] parameter, cast to the column's
 * type in SQL. Every query is a prepared statement, so an IN list would be a
 * statement of its own for every length on every connection; this is one.
 */
export function anyOf(column: AnyColumn, values: readonly string[], type: 'text' | 'uuid' | 'storage_class' = 'text'): SQL {
  const cast = type === 'text' ? sql`` : sql.raw(`::${type}[]`)
  return sql`${column} = any(${sql.param(values)}::text[]${cast})`
}
