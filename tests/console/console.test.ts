import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { adminToken, startServer, type TestServer } from '../support/server'
import { tempDir } from '../support/temp'

/**
 * The console in a real browser (Debian's chromium, which npm test installs
 * with apt), against a service with authentication on: every page, as a user
 * clicks through it, with no request leaving the service, no policy violation
 * and no script error. A screenshot of each page goes to $CONSOLE_SCREENSHOTS
 * (else a temporary directory, printed); UPDATE_CONSOLE_SCREENSHOT=1 also
 * refreshes the object browser's in docs/console.png for the README.
 */

const executablePath = '/usr/bin/chromium'
const browserArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const tenant = 'acme'
const readmeScreenshot = new URL('../../docs/console.png', import.meta.url).pathname

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

describe('the console in Chromium', () => {
  let server: TestServer
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let apiKey: string
  const screenshots = process.env.CONSOLE_SCREENSHOTS ?? tempDir('juststorage-console-')
  const errors: string[] = []
  const files = tempDir('juststorage-console-files-')

  const api = (path: string, init: RequestInit = {}, secret = apiKey) =>
    fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${secret}`, ...(init.headers as Record<string, string>) } })
  const shoot = async (name: string) => {
    await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true })
  }
  const violations = () => page.evaluate(() => (window as unknown as { violations: string[] }).violations)
  const openRoute = async (hash: string, heading: string) => {
    await page.evaluate((target) => void (location.hash = target), hash)
    await page.locator('main h1', { hasText: heading }).waitFor()
  }
  const logIn = async (secret: string, asAdmin?: string) => {
    await page.locator('#login input[name=secret]').fill(secret)
    if (asAdmin !== undefined) {
      await page.locator('#login input[name=admin]').check()
      await page.locator('#login input[name=tenant]').fill(asAdmin)
    }
    await page.locator('#login button[type=submit]').click()
  }

  beforeAll(async () => {
    if (!existsSync(executablePath)) throw new Error(`${executablePath} is missing: install Debian's chromium (npm test does)`)
    mkdirSync(screenshots, { recursive: true })
    console.log(`console screenshots: ${screenshots}`)
    server = await startServer('embedded', { auth: true })
    const created = await api('/v1/api-keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'console user', tenant_id: tenant, permissions: ['objects:read', 'objects:write', 'objects:delete', 'keys:manage'] }),
    }, adminToken)
    expect(created.status).toBe(201)
    apiKey = ((await created.json()) as { key: string }).key
    browser = await chromium.launch({ executablePath, args: browserArgs })
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] })
    // Anything bound elsewhere is refused, so the console shows what it does on a network without internet.
    await context.route('**/*', (route) => (route.request().url().startsWith(`${server.url}/`) || route.request().url().startsWith('blob:') ? route.continue() : route.abort()))
    page = await context.newPage()
    await page.addInitScript(() => {
      const seen: string[] = ((window as unknown as { violations: string[] }).violations = [])
      document.addEventListener('securitypolicyviolation', (event) => void seen.push(`${event.violatedDirective} ${event.blockedURI}`))
    })
    page.on('console', (message) => void (message.type() === 'error' && errors.push(message.text())))
    page.on('pageerror', (error) => void errors.push(error.message))
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    rmSync(files, { recursive: true, force: true })
  })

  test('serves the page, script and style without a credential, under the content security policy', async () => {
    for (const [path, type] of [['/console', 'text/html'], ['/console/app.js', 'text/javascript'], ['/console/app.css', 'text/css']] as const) {
      const response = await fetch(`${server.url}${path}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toStartWith(type)
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'; style-src 'self'")
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    }
    const html = await (await fetch(`${server.url}/console`)).text()
    expect(html).not.toMatch(/<script>|<style|style=/)
  })

  test('a wrong key is refused with the service’s message, code and request id', async () => {
    await page.goto(`${server.url}/console`, { waitUntil: 'load' })
    await logIn('not-a-key-of-this-service')
    const alert = page.locator('#login .error')
    await alert.waitFor()
    expect(await alert.locator('.code').textContent()).toBe('unauthenticated')
    expect(await alert.locator('.request-id').textContent()).toMatch(/^[0-9a-f-]{36}$/)
    expect(await alert.locator('.message').textContent()).not.toBe('')
    // The browser reports the refused call itself; nothing else may be in the console.
    expect(errors.every((text) => text.includes('status of 401'))).toBe(true)
    errors.length = 0
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
  })

  test('logs in with an API key, kept in sessionStorage only, and shows the namespaces', async () => {
    await logIn(apiKey)
    await page.locator('main h1', { hasText: 'Namespaces' }).waitFor()
    expect(await page.locator('#who').textContent()).toContain(`tenant ${tenant}`)
    expect(await page.evaluate(() => sessionStorage.getItem('juststorage.console.credential'))).toContain(apiKey)
    expect(await page.evaluate(() => document.cookie + localStorage.length)).toBe('0')
    expect(page.url()).not.toContain(apiKey)
  })

  const small = new TextEncoder().encode('hello from the console\n'.repeat(5000))
  const dropped = new Uint8Array(randomBytes(300_000))

  test('uploads by the file input and by drag and drop, with the progress bar reaching 100 %', async () => {
    await openRoute(`#/objects?${new URLSearchParams({ namespace: 'docs', prefix: 'reports/2026/' })}`, 'Objects')
    await page.locator('#dropzone input[type=file]').setInputFiles({ name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from(small) })
    const first = page.locator('.transfer.done', { hasText: 'hello.txt' })
    await first.waitFor()
    expect(await first.locator('progress').evaluate((bar: HTMLProgressElement) => [bar.value, bar.max])).toEqual([100, 100])
    expect(await first.locator('.percent').textContent()).toContain('100 %')

    await page.evaluate((bytes) => {
      const transfer = new DataTransfer()
      transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.bin', { type: 'application/octet-stream' }))
      const zone = document.getElementById('dropzone')!
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }))
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }))
    }, Array.from(dropped))
    const second = page.locator('.transfer.done', { hasText: 'dropped.bin' })
    await second.waitFor()
    expect(await second.locator('progress').evaluate((bar: HTMLProgressElement) => bar.value)).toBe(100)
    await page.locator('table.objects button', { hasText: 'dropped.bin' }).waitFor()

    const listed = (await (await api(`/v1/objects?namespace=docs&prefix=${encodeURIComponent('reports/2026/')}`)).json()) as { objects: { key: string; content_hash: string; content_type: string }[] }
    expect(listed.objects.map((object) => object.key).sort()).toEqual(['reports/2026/dropped.bin', 'reports/2026/hello.txt'])
    expect(listed.objects.find((object) => object.key.endsWith('hello.txt'))).toMatchObject({ content_hash: `sha256:${sha256(small)}`, content_type: 'text/plain' })
  })

  test('finds the files by folder and by search', async () => {
    await page.locator('.crumbs a', { hasText: 'docs' }).click()
    await page.locator('tr.folder a', { hasText: 'reports/' }).click()
    await page.locator('tr.folder a', { hasText: '2026/' }).click()
    await page.locator('table.objects button', { hasText: 'hello.txt' }).waitFor()
    expect(await page.locator('.crumbs').textContent()).toBe('docs / reports / 2026 /')
    await shoot('objects')
    if (process.env.UPDATE_CONSOLE_SCREENSHOT === '1') copyFileSync(join(screenshots, 'objects.png'), readmeScreenshot)

    await page.locator('#search input[name=key_contains]').fill('drop')
    await page.locator('#search button[type=submit]').click()
    await page.locator('.listing p', { hasText: 'Search results' }).waitFor()
    expect(await page.locator('table.objects tbody tr').allTextContents()).toEqual([expect.stringContaining('reports/2026/dropped.bin')])
    await page.locator('#search input[name=key_contains]').fill('')
    await page.locator('#search input[name=content_type]').fill('text/plain')
    await page.locator('#search button[type=submit]').click()
    await page.locator('table.objects tbody tr', { hasText: 'hello.txt' }).waitFor()
    expect(await page.locator('table.objects tbody tr').count()).toBe(1)
    await shoot('search')
  })

  test('downloads the bytes, hands out a presigned link, and deletes', async () => {
    await page.locator('table.objects button', { hasText: 'hello.txt' }).click()
    await page.locator('.details h2', { hasText: 'reports/2026/hello.txt' }).waitFor()
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('.details button', { hasText: 'Download' }).click()])
    expect(download.suggestedFilename()).toBe('hello.txt')
    expect(sha256(readFileSync((await download.path())!))).toBe(sha256(small))

    await page.locator('.details button', { hasText: 'Copy presigned link' }).click()
    const link = await page.locator('.presigned-url').inputValue()
    expect(link).toStartWith(`${server.url}/v1/objects/`)
    expect(link).not.toContain(apiKey)
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link)
    const fetched = await fetch(link)
    expect(fetched.status).toBe(200)
    expect(sha256(new Uint8Array(await fetched.arrayBuffer()))).toBe(sha256(small))
    await shoot('object-details')

    const id = await page.locator('.details td code').first().textContent()
    await page.locator('.details button', { hasText: 'Delete' }).click()
    await page.locator('.details button', { hasText: 'Really delete?' }).click()
    await page.locator('.details').waitFor({ state: 'hidden' })
    expect(await page.locator('table.objects tbody tr', { hasText: 'hello.txt' }).count()).toBe(0)
    expect((await api(`/v1/objects/${id}`)).status).toBe(404)
  })

  test('a 20 MiB file goes through an upload session, its progress rising chunk by chunk', async () => {
    const large = new Uint8Array(randomBytes(20 * 2 ** 20))
    const path = join(files, 'large.bin')
    writeFileSync(path, large)
    await openRoute(`#/objects?${new URLSearchParams({ namespace: 'docs', prefix: '' })}`, 'Objects')
    await page.locator('#dropzone').waitFor()
    // Every value the bar takes, as the user would see it move.
    await page.evaluate(() => {
      const seen: number[] = ((window as unknown as { progress: number[] }).progress = [])
      new MutationObserver((changes) => {
        for (const change of changes) if (change.target instanceof HTMLProgressElement) seen.push(change.target.value)
      }).observe(document.getElementById('dropzone')!, { attributes: true, attributeFilter: ['value'], subtree: true })
    })
    const started = Date.now()
    await page.locator('#dropzone input[type=file]').setInputFiles(path)
    await page.locator('.transfer.done', { hasText: 'large.bin' }).waitFor({ timeout: 90_000 })
    console.log(`20 MiB upload through the console: ${Date.now() - started} ms`)
    const progress = await page.evaluate(() => (window as unknown as { progress: number[] }).progress)
    expect(progress.at(-1)).toBe(100)
    expect(new Set(progress.filter((value) => value > 0 && value < 100)).size).toBeGreaterThanOrEqual(2)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))

    const found = (await (await api('/v1/objects/search', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: 'docs', key_prefix: 'large.bin' }) })).json()) as {
      objects: { size_bytes: number; content_hash: string }[]
    }
    expect(found.objects).toHaveLength(1)
    expect(found.objects[0]).toMatchObject({ size_bytes: large.length, content_hash: `sha256:${sha256(large)}` })
  }, 120_000)

  test('lists an upload session in flight and cancels it', async () => {
    const created = await api('/v1/uploads?namespace=docs&key=pending.bin', { method: 'POST' })
    expect(created.status).toBe(201)
    const session = (await created.json()) as { id: string }
    expect((await api(`/v1/uploads/${session.id}`, { method: 'PATCH', headers: { 'upload-offset': '0' }, body: new Uint8Array(1000) })).status).toBe(204)

    await openRoute('#/uploads', 'Upload sessions')
    const row = page.locator('main tr', { hasText: 'pending.bin' })
    await row.waitFor()
    expect(await row.textContent()).toContain('1000 B')
    await shoot('uploads')
    await row.locator('button', { hasText: 'Cancel' }).click()
    await row.locator('button', { hasText: 'Really cancel?' }).click()
    await page.locator('main p', { hasText: 'No upload in flight.' }).waitFor()
    expect((await api(`/v1/uploads/${session.id}`)).status).toBe(404)
  })

  test('creates a key, showing its secret once, and revokes it', async () => {
    await openRoute('#/keys', 'API keys')
    await page.locator('#create-key input[name=name]').fill('build robot')
    await page.locator('#create-key input[value="objects:delete"]').uncheck()
    await page.locator('#create-key button[type=submit]').click()
    const secret = await page.locator('.new-secret').inputValue()
    expect((await api('/v1/usage', {}, secret)).status).toBe(200)
    await shoot('keys-created')
    await page.locator('.secret button', { hasText: 'Done' }).click()
    const row = page.locator('main tr', { hasText: 'build robot' })
    await row.waitFor()
    expect(await row.textContent()).toContain('objects:read, objects:write')
    expect(await page.content()).not.toContain(secret)
    await shoot('keys')

    await row.locator('button', { hasText: 'Revoke' }).click()
    await row.locator('button', { hasText: 'Really revoke?' }).click()
    // The list is loaded again: the revoked key is gone from it, the others stay.
    await page.locator('main tr', { hasText: 'build robot' }).waitFor({ state: 'detached' })
    await page.locator('main tr', { hasText: 'console user' }).waitFor()
    expect(await page.locator('main tr', { hasText: 'build robot' }).count()).toBe(0)
    expect((await api('/v1/usage', {}, secret)).status).toBe(401)
  })

  test('shows the usage chart of the namespaces', async () => {
    await openRoute('#/namespaces', 'Namespaces')
    await page.locator('svg.chart rect.bar.physical').first().waitFor()
    expect(await page.locator('svg.chart text.label').allTextContents()).toEqual(['docs · hot'])
    expect(await page.locator('main table a', { hasText: 'docs' }).count()).toBe(1)
    await shoot('namespaces')
  })

  test('as admin: runs GC now, reads the audit log and any tenant’s usage', async () => {
    await page.locator('#who button', { hasText: 'Log out' }).click()
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0)
    await logIn(adminToken, tenant)
    await page.locator('#nav a', { hasText: 'Admin' }).click()
    await page.locator('main h1', { hasText: 'Admin' }).waitFor()
    await page.locator('main button[data-job=gc]').click()
    const result = page.locator('.run-result')
    await result.locator('h3', { hasText: 'gc finished' }).waitFor()
    // The deleted hello.txt left its blob unreferenced, and the grace period is 0.
    expect(await result.locator('tr', { hasText: 'deleted_blobs' }).textContent()).toContain('1')
    await result.locator('button', { hasText: 'Refresh status' }).click()
    await page.locator('main tr', { hasText: /^gc/ }).locator('.outcome.ok', { hasText: 'deleted blobs 1' }).waitFor()

    const audit = page.locator('.audit tbody tr')
    await audit.first().waitFor()
    expect((await audit.allTextContents()).join('\n')).toContain('api_key')

    await page.locator('#tenant-usage input[name=tenant_id]').fill(tenant)
    await page.locator('#tenant-usage button[type=submit]').click()
    await page.locator('#tenant-usage svg.chart').waitFor()
    expect(await page.locator('#tenant-usage').textContent()).toContain(`Tenant ${tenant}`)
    await shoot('admin')

    // An admin's tenant travels as X-Tenant: the object pages work for it.
    await openRoute(`#/objects?${new URLSearchParams({ namespace: 'docs', prefix: '' })}`, 'Objects')
    await page.locator('table.objects button', { hasText: 'large.bin' }).waitFor()
  }, 60_000)

  test('no policy violation and no script error on any page', async () => {
    expect(await violations()).toEqual([])
    expect(errors).toEqual([])
  })
})
