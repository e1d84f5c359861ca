import { createInterface } from 'node:readline/promises'
import { Writable } from 'node:stream'
import { apiClient } from '../client'
import { saveLogin } from '../config'
import { apiError, usageError } from '../errors'
import type { Command } from '../command'

/** Reads the credential without echoing it on a terminal, or as the whole of piped stdin. */
async function readToken(): Promise<string> {
  if (!process.stdin.isTTY) return (await new Response(Bun.stdin.stream()).text()).trim()
  process.stderr.write('Token (API key or admin token): ')
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() })
  const prompt = createInterface({ input: process.stdin, output: muted, terminal: true })
  try {
    return (await prompt.question('')).trim()
  } finally {
    prompt.close()
    process.stderr.write('\n')
  }
}

export const login: Command = {
  usage: 'login <url> [--token T] [--tenant T]   (without --token: prompts, or reads stdin)',
  options: { token: { type: 'string' } },
  async run(positionals, values) {
    if (positionals.length !== 1) throw usageError('login takes the service URL')
    let url: string
    try {
      url = new URL(positionals[0]!).toString().replace(/\/+$/, '')
    } catch {
      throw usageError(`${positionals[0]} is not a URL`)
    }
    const token = (values.token as string | undefined) ?? (await readToken())
    if (!token) throw usageError('no token given')
    const tenant = values.tenant as string | undefined
    // A credential the service refuses is not stored; one that may not read usage (or an admin naming no tenant) is.
    const { data, error, response } = await apiClient({ url, token, tenant }).GET('/v1/usage')
    if (response.status === 401 || (!response.ok && response.status !== 400 && response.status !== 403)) throw apiError(response, error)
    const path = saveLogin({ url, token, ...(tenant ? { tenant } : {}) })
    if (!values.quiet) process.stderr.write(`logged in to ${url}${data ? ` as tenant ${data.tenant_id}` : ''}; saved to ${path}\n`)
  },
}
