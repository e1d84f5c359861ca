import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { startServer, type TestServer } from '../support/server'

/**
 * The API docs page in a real browser (Debian's chromium, which npm test
 * installs with apt): it renders every operation from what the service itself
 * serves, and no request leaves it, as on a network without internet.
 */

const executablePath = '/usr/bin/chromium'
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

describe('GET /swagger in Chromium', () => {
  let server: TestServer
  let browser: Browser
  beforeAll(async () => {
    if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: install Debian's chromium (npm test does)`)
    server = await startServer('postgres')
    browser = await chromium.launch({ executablePath, args: browserArgs })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  test('renders the operations from the service alone, with no request elsewhere and no policy violation', async () => {
    const context = await browser.newContext()
    const requested: string[] = []
    context.on('request', (request) => void requested.push(request.url()))
    // Anything bound elsewhere is refused here, so the page shows what it does without internet.
    await context.route('**/*', (route) => (route.request().url().startsWith(`${server.url}/`) ? route.continue() : route.abort()))
    const page = await context.newPage()
    await page.addInitScript(() => {
      const seen: string[] = ((window as unknown as { violations: string[] }).violations = [])
      document.addEventListener('securitypolicyviolation', (event) => void seen.push(`${event.violatedDirective} ${event.blockedURI}`))
    })
    const errors: string[] = []
    page.on('pageerror', (error) => void errors.push(error.message))

    const response = await page.goto(`${server.url}/swagger`, { waitUntil: 'load' })
    expect(response?.status()).toBe(200)
    await page.waitForSelector('.opblock .opblock-summary', { timeout: 20_000 })

    const paths = await page.locator('.opblock-summary-path').allTextContents()
    const normalised = paths.map((path) => path.replace(/\u200b/g, '').trim())
    for (const path of ['/v1/objects', '/v1/objects/{id}', '/v1/objects/search', '/v1/api-keys/{id}', '/v1/admin/gc', '/health']) expect(normalised).toContain(path)
    expect(await page.locator('.opblock-summary-description').allTextContents()).toContain('Revoke an API key')

    // Opening an operation shows its documented responses.
    await page.locator('.opblock-delete .opblock-summary', { hasText: '/v1/api-keys/' }).first().click()
    await page.waitForSelector('.opblock.is-open .responses-table', { timeout: 10_000 })

    expect(requested.filter((url) => !url.startsWith(`${server.url}/`) && !url.startsWith('data:'))).toEqual([])
    expect(requested).toContain(`${server.url}/openapi.json`)
    expect(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([])
    expect(errors).toEqual([])
    await context.close()
  }, 60_000)
})
