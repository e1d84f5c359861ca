import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { apiTypesPath, renderApiTypes } from '../../cli/api-types'
import { startServer, type TestServer } from '../support/server'

let server: TestServer
beforeAll(async () => {
  server = await startServer('embedded')
})
afterAll(() => server.stop())

test('cli/api.d.ts is what the service\'s OpenAPI document generates (run `bun run cli:types` after changing the API)', async () => {
  const document = await (await fetch(`${server.url}/openapi.json`)).json()
  const generated = await renderApiTypes(document)
  expect(generated).toContain('"/v1/uploads/{id}": {')
  expect(readFileSync(apiTypesPath, 'utf8')).toBe(generated)
})
