import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { CliError } from './errors'

/** What `login` stores: where the service is and the credential (API key or admin token) it accepts. */
export interface StoredLogin {
  url: string
  token: string
  tenant?: string
}

/** The endpoint and credential a command uses: the config file, with JUSTSTORAGE_* and --tenant over it. */
export interface Settings {
  url: string
  token?: string
  tenant?: string
}

type Env = Record<string, string | undefined>

export function configPath(env: Env = process.env): string {
  if (env.JUSTSTORAGE_CONFIG) return env.JUSTSTORAGE_CONFIG
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config')
  return join(base, 'juststorage', 'config.json')
}

/** Upload sessions and downloads in progress, so a re-run continues them; beside the config, as private as it. */
export function statePath(env: Env = process.env): string {
  return join(dirname(configPath(env)), 'state.json')
}

function readJson(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new CliError('other', `${path} is not valid JSON; fix or remove it`, 'bad_config')
  }
}

/** Writes JSON readable by the owner only; through a rename, so a reader never sees half a file and an old file's wider mode never survives. */
export function writePrivateJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 })
  chmodSync(temporary, 0o600)
  renameSync(temporary, path)
}

export function readLogin(env: Env = process.env): StoredLogin | undefined {
  const value = readJson(configPath(env)) as Partial<StoredLogin> | undefined
  if (value === undefined) return undefined
  if (typeof value.url !== 'string' || typeof value.token !== 'string') throw new CliError('other', `${configPath(env)} lacks url or token; run juststorage login`, 'bad_config')
  return { url: value.url, token: value.token, tenant: typeof value.tenant === 'string' ? value.tenant : undefined }
}

export function saveLogin(login: StoredLogin, env: Env = process.env): string {
  const path = configPath(env)
  writePrivateJson(path, login)
  return path
}

export function settings(tenantFlag: string | undefined, env: Env = process.env): Settings {
  const stored = readLogin(env)
  const url = env.JUSTSTORAGE_URL || stored?.url
  if (!url) throw new CliError('usage', 'no service configured: run `juststorage login <url>` or set JUSTSTORAGE_URL', 'usage')
  return {
    url: url.replace(/\/+$/, ''),
    token: env.JUSTSTORAGE_TOKEN || stored?.token,
    tenant: tenantFlag || env.JUSTSTORAGE_TENANT || stored?.tenant,
  }
}

/** One record per transfer in progress, under a key naming what it moves where. */
export class TransferState<T> {
  constructor(
    private readonly section: 'uploads' | 'downloads',
    private readonly path: string = statePath(),
  ) {}

  private all(): Record<string, Record<string, unknown>> {
    return (readJson(this.path) as Record<string, Record<string, unknown>> | undefined) ?? {}
  }

  get(key: string): T | undefined {
    return this.all()[this.section]?.[key] as T | undefined
  }

  set(key: string, value: T | undefined): void {
    const all = this.all()
    const section = { ...all[this.section] }
    if (value === undefined) delete section[key]
    else section[key] = value
    writePrivateJson(this.path, { ...all, [this.section]: section })
  }
}

/** A state key for a transfer: what it reads, what it writes, and the version of the source it started from. */
export function transferKey(...parts: (string | number)[]): string {
  return new Bun.CryptoHasher('sha256').update(JSON.stringify(parts)).digest('hex')
}
