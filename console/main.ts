import { apiClient, ApiFailure, forgetCredential, savedCredential, saveCredential, type Credential } from './api'
import { h } from './dom'
import { adminPage } from './pages/admin'
import { keysPage } from './pages/keys'
import { loginPage } from './pages/login'
import { namespacesPage } from './pages/namespaces'
import { objectsPage } from './pages/objects'
import { uploadsPage } from './pages/uploads'
import { describeFailure, type Session } from './session'

/** The console's pages, by the route in the URL's fragment: #/objects?namespace=…&prefix=… */
type Page = (session: Session, params: URLSearchParams) => Promise<Node>
const pages: Record<string, { title: string; page: Page; admin?: boolean }> = {
  namespaces: { title: 'Namespaces', page: namespacesPage },
  objects: { title: 'Objects', page: objectsPage },
  uploads: { title: 'Upload sessions', page: uploadsPage },
  keys: { title: 'API keys', page: keysPage },
  admin: { title: 'Admin', page: adminPage, admin: true },
}

const main = document.getElementById('main')!
const nav = document.getElementById('nav')!
const who = document.getElementById('who')!
const alert = document.getElementById('error')!

function showFailure(error: unknown) {
  alert.replaceChildren(describeFailure(error), ' ', h('button', { type: 'button', class: 'link', onclick: () => void (alert.hidden = true) }, 'Dismiss'))
  alert.hidden = false
}

function logOut(reason?: unknown) {
  forgetCredential()
  nav.hidden = true
  nav.replaceChildren()
  who.replaceChildren()
  alert.hidden = true
  main.replaceChildren(loginPage(logIn, reason))
}

function logIn(credential: Credential) {
  saveCredential(credential)
  if (location.hash === '' || location.hash === '#/') location.hash = '#/namespaces'
  start(credential)
}

function start(credential: Credential) {
  const session: Session = {
    api: apiClient(credential),
    credential,
    report(error) {
      // A key revoked or expired while the tab is open: back to the form, saying why.
      if (error instanceof ApiFailure && error.status === 401) logOut(error)
      else showFailure(error)
    },
    refresh: () => void render(session),
  }
  nav.replaceChildren(
    ...Object.entries(pages)
      .filter(([, entry]) => !entry.admin || credential.admin)
      .map(([route, entry]) => h('a', { href: `#/${route}`, 'data-route': route }, entry.title)),
  )
  nav.hidden = false
  who.replaceChildren(
    h('span', { class: 'muted' }, credential.admin ? 'admin' : 'API key', credential.tenant ? ` · tenant ${credential.tenant}` : ''),
    ' ',
    h('button', { type: 'button', class: 'link', onclick: () => logOut() }, 'Log out'),
  )
  window.onhashchange = () => void render(session)
  void render(session)
}

let rendering = 0

async function render(session: Session) {
  const [route = 'namespaces', query = ''] = location.hash.replace(/^#\/?/, '').split('?')
  const entry = pages[route] && (!pages[route].admin || session.credential.admin) ? pages[route] : pages.namespaces!
  for (const link of Array.from(nav.querySelectorAll('a'))) link.classList.toggle('current', link.dataset.route === route)
  document.title = `${entry.title} · JustStorage console`
  alert.hidden = true
  // A slow page must not replace the one the user has moved on to.
  const ticket = ++rendering
  main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'))
  let content: Node
  try {
    content = await entry.page(session, new URLSearchParams(query))
  } catch (error) {
    content = h('p', { class: 'muted' }, `${entry.title} could not be loaded.`)
    if (ticket === rendering) session.report(error)
  }
  if (ticket === rendering && main.isConnected && savedCredential()) main.replaceChildren(h('h1', {}, entry.title), content)
}

const saved = savedCredential()
if (saved) start(saved)
else logOut()
