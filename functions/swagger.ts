import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Elysia } from 'elysia'

/**
 * GET /swagger: Swagger UI for /openapi.json, from the pinned swagger-ui-dist
 * package and nothing else. A page on the service's origin runs with the
 * credentials a user pastes into it, so it loads no third-party script, and
 * its content security policy holds it to this origin even if a future bundle
 * tried otherwise. Public, and left out of the document like /openapi.json.
 */

const distDir = dirname(fileURLToPath(import.meta.resolve('swagger-ui-dist/package.json')))

// Relative URLs, so the page also works behind a proxy that mounts the service under a path.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>JustStorage API</title>
  <link rel="stylesheet" href="swagger/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger/swagger-ui-bundle.js"></script>
  <script src="swagger/init.js"></script>
</body>
</html>
`

// An inline script would need 'unsafe-inline' or a hash in the policy; a file of its own needs neither.
// validatorUrl null: the UI would otherwise ask a public validator about the document.
const init = `window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#swagger-ui', validatorUrl: null, deepLinking: true })\n`

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const hidden = { detail: { hide: true } }
const packaged = (file: string, type: string) => () =>
  new Response(Bun.file(join(distDir, file)), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } })

export const swaggerRoutes = () =>
  new Elysia({ name: 'swagger-ui' })
    .get('/swagger', () => new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': contentSecurityPolicy } }), hidden)
    .get('/swagger/init.js', () => new Response(init, { headers: { 'content-type': 'text/javascript; charset=utf-8' } }), hidden)
    .get('/swagger/swagger-ui.css', packaged('swagger-ui.css', 'text/css; charset=utf-8'), hidden)
    .get('/swagger/swagger-ui-bundle.js', packaged('swagger-ui-bundle.js', 'text/javascript; charset=utf-8'), hidden)
