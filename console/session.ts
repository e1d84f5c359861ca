import { ApiFailure, type Api, type Credential } from './api'
import { h } from './dom'

/** What every page works with: the client, the credential it carries, and where failures are shown. */
export interface Session {
  api: Api
  credential: Credential
  /** Shows a failure in the page's alert; a rejected credential ends the session. */
  report(error: unknown): void
  /** Renders the current route again, after a change the page shows. */
  refresh(): void
}

/** A failure as the user reads it: the message, then the code and request id to quote. */
export function describeFailure(error: unknown): HTMLElement {
  if (!(error instanceof ApiFailure)) return h('span', {}, error instanceof Error ? error.message : String(error))
  return h(
    'span',
    {},
    h('strong', { class: 'message' }, error.message),
    ' ',
    h('span', { class: 'muted' }, '(code ', h('code', { class: 'code' }, error.code), error.requestId ? ', request ' : '', error.requestId ? h('code', { class: 'request-id' }, error.requestId) : '', ')'),
  )
}

/** Runs an action of a button or form, reporting its failure instead of leaving it in the console. */
export const guarded =
  (session: Session, action: () => Promise<void>) =>
  async (): Promise<void> => {
    try {
      await action()
    } catch (error) {
      session.report(error)
    }
  }
