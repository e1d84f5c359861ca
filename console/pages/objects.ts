import { count, credentialHeaders, failureOf, ok, serviceUrl, type JsonBody } from '../api'
import { confirmButton, formatBytes, formatTime, h, table } from '../dom'
import { guarded, type Session } from '../session'
import { uploadFile, type StoredObject } from '../upload'

/** The route of a namespace's folder: keys are split on '/' into folders, though to the service '/' means nothing. */
export const objectsRoute = (namespace: string, prefix: string) => `#/objects?${new URLSearchParams({ namespace, prefix })}`

type SearchFilters = JsonBody<'/v1/objects/search', 'post'>

interface Page {
  objects: StoredObject[]
  next_cursor: string | null
}

const pageSize = 200

/** The object browser: folders, search, details, download, presigned links, delete and upload. */
export async function objectsPage(session: Session, params: URLSearchParams): Promise<Node> {
  const namespace = params.get('namespace') ?? ''
  const prefix = params.get('prefix') ?? ''
  if (session.credential.admin && !session.credential.tenant) return h('p', { class: 'muted' }, 'Objects belong to a tenant: log in again naming the tenant to browse.')
  const { namespaces } = await ok(session.api.GET('/v1/namespaces'))
  const picker = namespacePicker(namespaces.map((row) => row.namespace), namespace)
  if (namespace === '') return h('div', {}, picker, h('p', { class: 'muted' }, 'Choose a namespace, or name a new one to upload into.'))

  const listing = h('div', { class: 'listing' })
  const details = h('aside', { class: 'details card', hidden: true })
  const browser = new Browser(session, namespace, prefix, listing, details)
  await browser.showFolder()
  return h(
    'div',
    {},
    picker,
    breadcrumbs(namespace, prefix),
    searchForm(browser),
    uploadZone(session, namespace, prefix, () => browser.showFolder()),
    h('div', { class: 'split' }, listing, details),
  )
}

function namespacePicker(known: string[], current: string): HTMLElement {
  const input = h('input', { type: 'text', name: 'namespace', list: 'known-namespaces', value: current, required: true, pattern: '[A-Za-z0-9_\\-]{1,64}', placeholder: 'namespace' })
  const form = h(
    'form',
    { class: 'row', id: 'namespace-picker' },
    h('label', { class: 'inline' }, 'Namespace', input),
    h('datalist', { id: 'known-namespaces' }, ...known.map((name) => h('option', { value: name }))),
    h('button', { type: 'submit' }, 'Open'),
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    location.hash = objectsRoute(input.value.trim(), '')
  })
  return form
}

function breadcrumbs(namespace: string, prefix: string): HTMLElement {
  const parts = prefix.split('/').filter((part) => part !== '')
  return h(
    'nav',
    { class: 'crumbs', 'aria-label': 'Folder' },
    h('a', { href: objectsRoute(namespace, '') }, namespace),
    ...parts.flatMap((part, index) => [' / ', h('a', { href: objectsRoute(namespace, `${parts.slice(0, index + 1).join('/')}/`) }, part)]),
    ' /',
  )
}

/** The listing and details panes, fed by the folder's list or by a search. */
class Browser {
  constructor(
    readonly session: Session,
    readonly namespace: string,
    readonly prefix: string,
    private readonly listing: HTMLElement,
    private readonly details: HTMLElement,
  ) {}

  /** The folder: the keys under the prefix, those with a further '/' gathered into subfolders. */
  async showFolder(): Promise<void> {
    const rows = h('tbody', {})
    const folders = new Set<string>()
    // Folders stay above the objects, in the order the keys come.
    let lastFolder: HTMLElement | undefined
    const more = h('button', { type: 'button', hidden: true }, 'Load more')
    const load = async (cursor?: string) => {
      const query = { namespace: this.namespace, limit: String(pageSize), order: 'asc' as const, ...(this.prefix ? { prefix: this.prefix } : {}), ...(cursor ? { cursor } : {}) }
      const page = await ok(this.session.api.GET('/v1/objects', { params: { query } }))
      for (const object of page.objects) {
        const rest = (object.key ?? '').slice(this.prefix.length)
        const slash = rest.indexOf('/')
        if (slash === -1) rows.append(this.objectRow(object, rest))
        else if (!folders.has(rest.slice(0, slash + 1))) {
          const folder = rest.slice(0, slash + 1)
          folders.add(folder)
          const row = h('tr', { class: 'folder' }, h('td', {}, h('a', { href: objectsRoute(this.namespace, this.prefix + folder) }, `📁 ${folder}`)), h('td', {}), h('td', {}), h('td', {}), h('td', {}))
          if (lastFolder) lastFolder.after(row)
          else rows.prepend(row)
          lastFolder = row
        }
      }
      more.hidden = page.next_cursor === null
      more.onclick = guarded(this.session, () => load(page.next_cursor ?? undefined))
    }
    await load()
    this.listing.replaceChildren(this.table(rows, 'Nothing in this folder yet.'), more)
  }

  async showSearch(filters: Omit<SearchFilters, 'namespace' | 'limit'>): Promise<void> {
    const rows = h('tbody', {})
    const more = h('button', { type: 'button', hidden: true }, 'Load more')
    const load = async (cursor?: string) => {
      const body: SearchFilters = { namespace: this.namespace, limit: pageSize, ...filters, ...(cursor ? { cursor } : {}) }
      const page = (await ok(this.session.api.POST('/v1/objects/search', { body }))) as Page
      for (const object of page.objects) rows.append(this.objectRow(object, object.key ?? ''))
      more.hidden = page.next_cursor === null
      more.onclick = guarded(this.session, () => load(page.next_cursor ?? undefined))
    }
    await load()
    this.listing.replaceChildren(h('p', { class: 'muted' }, 'Search results in the whole namespace:'), this.table(rows, 'No object matches.'), more)
  }

  private table(rows: HTMLElement, empty: string): HTMLElement {
    if (rows.childElementCount === 0) return h('p', { class: 'muted empty' }, empty)
    return h('table', { class: 'objects' }, h('thead', {}, h('tr', {}, ...['Name', 'Size', 'Type', 'Class', 'Created'].map((title) => h('th', {}, title)))), rows)
  }

  private objectRow(object: StoredObject, name: string): HTMLElement {
    const open = h('button', { type: 'button', class: 'link', onclick: () => this.showDetails(object) }, name || `(no key) ${object.id}`)
    return h(
      'tr',
      { 'data-id': object.id },
      h('td', {}, open),
      h('td', {}, formatBytes(object.size_bytes)),
      h('td', {}, object.content_type),
      h('td', {}, object.storage_class),
      h('td', {}, formatTime(object.created_at)),
    )
  }

  private showDetails(object: StoredObject) {
    const link = h('div', { class: 'presigned' })
    const metadata = Object.entries(object.metadata)
    this.details.replaceChildren(
      h('h2', {}, object.key ?? object.id),
      table(['Field', 'Value'], [
        ['id', object.id],
        ['size', `${formatBytes(object.size_bytes)} (${count(object.size_bytes)} bytes)`],
        ['content type', object.content_type],
        ['storage class', object.storage_class],
        ['content hash', object.content_hash],
        ['created', formatTime(object.created_at)],
        ['expires', formatTime(object.expires_at)],
      ], ([field, value]) => [field, h('code', {}, value)]),
      h('h3', {}, 'Metadata'),
      table(['Name', 'Value'], metadata, ([name, value]) => [name, h('code', {}, typeof value === 'string' ? value : JSON.stringify(value))], 'No metadata.'),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', onclick: guarded(this.session, () => this.download(object)) }, 'Download'),
        h('button', { type: 'button', onclick: guarded(this.session, () => this.presign(object, link)) }, 'Copy presigned link'),
        confirmButton('Delete', 'Really delete?', guarded(this.session, () => this.delete(object))),
      ),
      link,
    )
    this.details.hidden = false
  }

  /** Fetched with the credential in its header, then saved from a blob URL: no credential ever goes into a URL. */
  private async download(object: StoredObject) {
    const path = `/v1/objects/${object.id}`
    const response = await fetch(`${serviceUrl}${path}`, { headers: credentialHeaders(this.session.credential, path) })
    if (!response.ok) throw failureOf(response, await response.json().catch(() => undefined))
    const url = URL.createObjectURL(await response.blob())
    const anchor = h('a', { href: url, download: (object.key ?? object.id).split('/').pop() || object.id })
    document.body.append(anchor)
    anchor.click()
    anchor.remove()
    // The download has taken the blob by the next task; the URL is not needed any longer.
    setTimeout(() => URL.revokeObjectURL(url), 0)
  }

  /** A link anyone may GET for an hour, copied to the clipboard, and shown in any case for when the clipboard is refused. */
  private async presign(object: StoredObject, where: HTMLElement) {
    const signed = await ok(this.session.api.POST('/v1/presign', { body: { method: 'GET', namespace: this.namespace, id: object.id, expires_in: 3600 } }))
    const url = new URL(signed.url, `${serviceUrl}/`).href
    const field = h('input', { type: 'text', readonly: true, value: url, class: 'presigned-url', 'aria-label': 'Presigned link' })
    let copied: string
    try {
      await navigator.clipboard.writeText(url)
      copied = `Copied to the clipboard; valid until ${formatTime(signed.expires_at)}.`
    } catch {
      copied = `The clipboard is not available here: select the link and copy it. Valid until ${formatTime(signed.expires_at)}.`
    }
    where.replaceChildren(h('p', { class: 'muted' }, copied), field)
    field.select()
  }

  private async delete(object: StoredObject) {
    await ok(this.session.api.DELETE('/v1/objects/{id}', { params: { path: { id: object.id } } }))
    this.details.hidden = true
    this.listing.querySelector(`tr[data-id="${CSS.escape(object.id)}"]`)?.remove()
  }
}

function searchForm(browser: Browser): HTMLElement {
  const field = (name: string, label: string, placeholder: string) => h('label', {}, label, h('input', { type: 'text', name, placeholder, autocomplete: 'off' }))
  const form = h(
    'form',
    { class: 'card search', id: 'search' },
    h('h2', {}, 'Search'),
    h('div', { class: 'fields' }, field('key_prefix', 'Key prefix', 'reports/2026/'), field('key_contains', 'Key contains', 'invoice'), field('content_type', 'Content type', 'image/png'), field('metadata', 'Metadata (JSON)', '{"owner": "ana"}')),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, 'Search'), h('button', { type: 'reset' }, 'Back to the folder')),
  )
  form.addEventListener(
    'submit',
    (event) => {
      event.preventDefault()
      const data = new FormData(form)
      const text = (name: string) => String(data.get(name) ?? '').trim() || undefined
      void guarded(browser.session, async () => {
        const metadata = text('metadata')
        let parsed: Record<string, unknown> | undefined
        if (metadata !== undefined) {
          try {
            parsed = JSON.parse(metadata) as Record<string, unknown>
          } catch {
            throw new Error('Metadata must be a JSON object, e.g. {"owner": "ana"}')
          }
        }
        await browser.showSearch({ key_prefix: text('key_prefix'), key_contains: text('key_contains'), content_type: text('content_type'), metadata: parsed })
      })()
    },
  )
  form.addEventListener('reset', () => void guarded(browser.session, () => browser.showFolder())())
  return form
}

/** Drop files here or pick them; each goes into the current folder under its own name, with a progress bar. */
function uploadZone(session: Session, namespace: string, prefix: string, uploaded: () => Promise<void>): HTMLElement {
  const picker = h('input', { type: 'file', multiple: true, name: 'files' })
  const overwrite = h('input', { type: 'checkbox', name: 'overwrite' })
  const transfers = h('ul', { class: 'transfers' })
  const zone = h(
    'section',
    { class: 'card dropzone', id: 'dropzone' },
    h('h2', {}, 'Upload'),
    h('p', {}, `Drop files here, or pick them: they go to ${namespace} / ${prefix}`),
    h('div', { class: 'row' }, picker, h('label', { class: 'inline' }, overwrite, 'Replace an object with the same key')),
    transfers,
  )
  const upload = async (files: File[]) => {
    for (const file of files) {
      const bar = h('progress', { max: 100, value: 0 })
      const label = h('span', { class: 'percent' }, '0 %')
      const item = h('li', { class: 'transfer' }, h('span', { class: 'name' }, file.name), ` ${formatBytes(file.size)} `, bar, label)
      transfers.append(item)
      try {
        await uploadFile(session.api, session.credential, file, { namespace, key: prefix + file.name, overwrite: overwrite.checked }, (sent, total) => {
          const percent = total === 0 ? 100 : Math.floor((sent / total) * 100)
          bar.value = percent
          label.textContent = `${percent} %`
        })
        item.classList.add('done')
        label.textContent = '100 % · stored'
      } catch (error) {
        item.classList.add('failed')
        label.textContent = 'failed'
        session.report(error)
      }
    }
    await uploaded()
  }
  picker.addEventListener('change', () => {
    const files = Array.from(picker.files ?? [])
    picker.value = ''
    void guarded(session, () => upload(files))()
  })
  zone.addEventListener('dragover', (event) => {
    event.preventDefault()
    zone.classList.add('over')
  })
  zone.addEventListener('dragleave', () => zone.classList.remove('over'))
  zone.addEventListener('drop', (event) => {
    event.preventDefault()
    zone.classList.remove('over')
    void guarded(session, () => upload(Array.from(event.dataTransfer?.files ?? [])))()
  })
  return zone
}
