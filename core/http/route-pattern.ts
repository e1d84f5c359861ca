/** The routes an app serves, as Elysia lists them. */
export type RouteList = { method: string; path: string }[]

const patterns = new Map<string, RegExp>()

/** The regular expression of an Elysia route path (`:param` one segment, `*` the rest), built once per path. */
export function routePattern(path: string): RegExp {
  let pattern = patterns.get(path)
  if (!pattern) {
    const source = path
      .split('/')
      .map((segment) => (segment === '*' ? '.+' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    pattern = new RegExp(`^${source}$`)
    patterns.set(path, pattern)
  }
  return pattern
}
