import type { ParseArgsConfig } from 'node:util'
import { apiClient, type Api, Tenant } from './client'
import { type Settings, settings } from './config'
import { Progress, type ProgressMode } from './progress'

export type Options = NonNullable<ParseArgsConfig['options']>
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>

export interface Command {
  /** The synopsis, as `juststorage help` prints it. */
  usage: string
  options: Options
  run(positionals: string[], values: Values): Promise<void>
}

/** Options every command takes. */
export const globalOptions: Options = {
  tenant: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
}

export interface Session {
  settings: Settings
  api: Api
  tenant: Tenant
}

export function connect(values: Values): Session {
  const resolved = settings(values.tenant as string | undefined)
  const api = apiClient(resolved)
  return { settings: resolved, api, tenant: new Tenant(api, resolved.tenant) }
}

export function progressMode(values: Values): ProgressMode {
  if (values.json) return 'json'
  if (values.quiet) return 'quiet'
  return process.stderr.isTTY ? 'tty' : 'plain'
}

export const newProgress = (values: Values, totals?: { files: number; bytes: number }) => new Progress(progressMode(values), totals)

/** Prints a command's answer: JSON as given with --json, else the human text; nothing with --quiet. */
export function print(values: Values, json: unknown, human: () => string): void {
  if (values.json) console.log(JSON.stringify(json))
  else if (!values.quiet) console.log(human())
}
