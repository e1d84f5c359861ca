/**
 * The floor under a download: Bun's own sendfile of a file, nothing else.
 * Usage: bun bench/bare-download-server.ts <port>; GET /?path=<file>
 */
const port = Number(process.argv[2])

Bun.serve({ hostname: '127.0.0.1', port, fetch: (request) => new Response(Bun.file(new URL(request.url).searchParams.get('path')!)) })
console.log('ready')
