import { Elysia } from 'elysia'

/**
 * GET /console: the web console, a static page whose script talks to /v1 with
 * the credential the user gives it, as any client would. Public like /swagger:
 * the assets hold no data, and every API call carries its own credential.
 *
 * The script is bundled from console/ by Bun.build at the first request and
 * kept in memory: no build step and no generated file to keep in step with its
 * sources, and a process that never serves the console never pays for it.
 */

const consoleDir = new URL('../console/', import.meta.url)

// The page runs with a credential pasted into it, so it may load nothing from elsewhere and nothing inline.
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

let bundle: Promise<string> | undefined

/** The console's one script; a failed build is not kept, so the next request tries again. */
function consoleScript(): Promise<string> {
  bundle ??= buildScript().catch((error: unknown) => {
    bundle = undefined
    throw error
  })
  return bundle
}

async function buildScript(): Promise<string> {
  // Bun.build throws on a failed build, with every message in the error.
  const result = await Bun.build({ entrypoints: [new URL('main.ts', consoleDir).pathname], target: 'browser', minify: true })
  return result.outputs[0]!.text()
}

const hidden = { detail: { hide: true } }
const asset = (body: BodyInit, type: string) =>
  new Response(body, { headers: { 'content-type': type, 'content-security-policy': contentSecurityPolicy, 'cache-control': 'no-cache' } })

export const consoleRoutes = () =>
  new Elysia({ name: 'console' })
    .get('/console', () => asset(Bun.file(new URL('index.html', consoleDir)), 'text/html; charset=utf-8'), hidden)
    .get('/console/app.css', () => asset(Bun.file(new URL('app.css', consoleDir)), 'text/css; charset=utf-8'), hidden)
    .get('/console/app.js', async () => asset(await consoleScript(), 'text/javascript; charset=utf-8'), hidden)
