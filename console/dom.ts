/**
 * Elements built with the DOM's own constructors: text only ever lands in
 * text nodes and attribute values, so no data from the service is parsed as
 * markup. (The page's policy forbids inline styles and scripts anyway.)
 */

export type Child = Node | string | number | null | undefined | false
type Listener = (event: Event) => void
export type Props = Record<string, string | number | boolean | undefined | Listener>

function apply(element: Element, props: Props, children: Child[]) {
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === 'function') element.addEventListener(name.slice(2), value)
    else if (value === true) element.setAttribute(name, '')
    else if (value !== undefined && value !== false) element.setAttribute(name, String(value))
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(typeof child === 'number' ? String(child) : child)
}

/** An HTML element; props named on… are listeners (`onclick`), the others attributes. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  apply(element, props, children)
  return element
}

/** An SVG element, for the charts. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag)
  apply(element, props, children)
  return element
}

/** A table with a header row and one row per item. */
export function table<T>(columns: string[], items: T[], row: (item: T) => Child[], empty = 'Nothing here yet.'): HTMLElement {
  if (items.length === 0) return h('p', { class: 'muted' }, empty)
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...columns.map((column) => h('th', {}, column)))),
    h('tbody', {}, ...items.map((item) => h('tr', {}, ...row(item).map((cell) => h('td', {}, cell))))),
  )
}

/**
 * A button that asks for a second click before it acts, instead of a native
 * confirm() dialog: the question stays in the page, beside what it is about.
 */
export function confirmButton(label: string, question: string, act: () => Promise<void>): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'danger' }, label)
  let armed = false
  button.addEventListener('click', async () => {
    if (!armed) {
      armed = true
      button.textContent = question
      return
    }
    button.disabled = true
    try {
      await act()
    } finally {
      armed = false
      button.disabled = false
      button.textContent = label
    }
  })
  return button
}

/** 1536 → "1.5 KiB". */
export function formatBytes(value: number | string): string {
  let bytes = Number(value)
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let unit = 0
  while (bytes >= 1024 && unit < units.length - 1) {
    bytes /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${bytes.toFixed(bytes < 10 ? 1 : 0)} ${units[unit]}`
}

export const formatTime = (value: string | null | undefined) => (value ? new Date(value).toLocaleString() : '—')
