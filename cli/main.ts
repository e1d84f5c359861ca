#!/usr/bin/env bun
/** juststorage: the command line client of a JustStorage service, through its HTTP API only. */
import { parseArgs } from 'node:util'
import { type Command, globalOptions } from './command'
import { admin, keys, usage } from './commands/account'
import { cp } from './commands/cp'
import { login } from './commands/login'
import { ls, presign, rm, stat } from './commands/objects'
import { CliError, errorLine, usageError } from './errors'

const commands: Record<string, Command> = { login, cp, ls, stat, rm, presign, usage, keys, admin }

const help = () =>
  [
    'usage: juststorage <command> [options]',
    '',
    ...Object.values(commands).flatMap((command) => command.usage.split('\n').map((line) => `  ${line}`)),
    '',
    'every command: --tenant T (or JUSTSTORAGE_TENANT; an admin names one), --json, --quiet',
    'environment: JUSTSTORAGE_URL, JUSTSTORAGE_TOKEN (over the login), JUSTSTORAGE_CONFIG (the config file)',
  ].join('\n')

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(help())
    if (name === undefined) process.exitCode = 2
    return
  }
  const command = commands[name]
  if (!command) throw usageError(`unknown command ${name}; see juststorage help`)
  let parsed
  try {
    parsed = parseArgs({ args: rest, options: { ...globalOptions, ...command.options }, allowPositionals: true, strict: true })
  } catch (error) {
    throw usageError(`${name}: ${(error as Error).message}`)
  }
  if (parsed.values.help) {
    console.log(command.usage.split('\n').map((line) => `usage: juststorage ${line}`).join('\n'))
    return
  }
  await command.run(parsed.positionals, parsed.values)
}

try {
  await main(process.argv.slice(2))
} catch (error) {
  const failure = error instanceof CliError ? error : new CliError('other', (error as Error)?.message ?? String(error))
  // Written raw: console.error would colour it on a terminal.
  process.stderr.write(`${errorLine(failure)}\n`)
  process.exitCode = failure.exitStatus
}
