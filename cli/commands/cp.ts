import { existsSync, readdirSync, statSync } from 'node:fs'
import { basename, join, relative, resolve, sep } from 'node:path'
import { CliError, usageError } from '../errors'
import { type Command, connect, newProgress, type Values } from '../command'
import { type Api, count } from '../client'
import { downloadFile } from '../download'
import { allUnder } from '../listing'
import { folderPrefix, isRemote, parseRemote, type Remote, remoteString } from '../location'
import { parseSize, RateLimit } from '../meter'
import { formatBytes, type TransferResult } from '../progress'
import type { TransferContext } from '../transfer'
import { uploadFile } from '../upload'

interface Job {
  label: string
  size: number
  run(context: TransferContext): Promise<TransferResult>
  failed(error: CliError): TransferResult
}

function sizeOption(values: Values, name: string, fallback: number): number {
  const text = values[name] as string | undefined
  if (text === undefined) return fallback
  const size = parseSize(text)
  if (size === undefined || size <= 0) throw usageError(`--${name} takes a size such as 64M or 1G, not ${text}`)
  return size
}

function filesUnder(directory: string): string[] {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
}

const failure = (action: TransferResult['action'], source: string, destination: string, error: CliError): TransferResult => ({
  action,
  source,
  destination,
  status: 'error',
  error: { message: error.message, code: error.code, request_id: error.requestId },
})

function uploadJobs(source: string, target: Remote, recursive: boolean): Job[] {
  if (!existsSync(source)) throw new CliError('not_found', `${source}: no such file or directory`, 'not_found')
  const job = (path: string, remote: Remote): Job => ({
    label: path,
    size: statSync(path).size,
    run: (context) => uploadFile(path, remote, context),
    failed: (error) => failure('upload', path, remoteString(remote), error),
  })
  if (statSync(source).isDirectory()) {
    if (!recursive) throw usageError(`${source} is a directory (use -r)`)
    const prefix = folderPrefix(target.key)
    // Keys use '/', whatever the local separator.
    return filesUnder(source).map((path) => job(path, { namespace: target.namespace, key: prefix + relative(source, path).split(sep).join('/') }))
  }
  const key = target.key === '' || target.key.endsWith('/') ? target.key + basename(source) : target.key
  return [job(source, { ...target, key })]
}

/** Where a key under `prefix` lands below `directory`; never outside it, whatever the key holds. */
function localPathOf(directory: string, key: string, prefix: string): string | undefined {
  const rest = key.slice(prefix.length)
  const segments = rest.split('/')
  if (rest === '' || rest.endsWith('/') || segments.some((segment) => segment === '..' || segment === '.' || segment === '')) return undefined
  const path = join(directory, ...segments)
  return resolve(path).startsWith(resolve(directory) + sep) ? path : undefined
}

async function downloadJobs(source: Remote, target: string, recursive: boolean, api: Api): Promise<Job[]> {
  const job = (remote: Remote, path: string, size: number): Job => ({
    label: remoteString(remote),
    size,
    run: (context) => downloadFile(remote, path, context, size),
    failed: (error) => failure('download', remoteString(remote), path, error),
  })
  if (recursive) {
    const prefix = folderPrefix(source.key)
    const objects = await allUnder(api, source.namespace, prefix)
    if (objects.length === 0) throw new CliError('not_found', `nothing under ${remoteString({ ...source, key: prefix })}`, 'not_found')
    const jobs: Job[] = []
    for (const object of objects) {
      const path = object.key === null ? undefined : localPathOf(target, object.key, prefix)
      // Keys that name no file below the target (`a/../b`, `x/`, none at all) are left out, loudly.
      if (path === undefined) process.stderr.write(`juststorage: skipping ${object.key === null ? `object ${object.id} (no key)` : JSON.stringify(object.key)}: not a file name below ${target}\n`)
      else jobs.push(job({ namespace: source.namespace, key: object.key! }, path, count(object.size_bytes)))
    }
    return jobs.sort((a, b) => a.label.localeCompare(b.label))
  }
  if (source.key === '' || source.key.endsWith('/')) throw usageError(`${remoteString(source)} names a prefix, not an object (use -r)`)
  const intoDirectory = target.endsWith('/') || target.endsWith(sep) || (existsSync(target) && statSync(target).isDirectory())
  return [job(source, intoDirectory ? join(target, basename(source.key)) : target, 0)]
}

function summary(result: TransferResult): string {
  const base = `${result.source} → ${result.destination}`
  if (result.status === 'error') return `${base}: ${result.error!.message}`
  const notes = [formatBytes(result.size ?? 0), `in ${((result.duration_ms ?? 0) / 1000).toFixed(1)}s`]
  if (result.linked) notes.push('linked, no bytes sent')
  if (result.resumed_from !== undefined) notes.push(`resumed at ${formatBytes(result.resumed_from)}`)
  return `${base} (${notes.join(', ')})`
}

export const cp: Command = {
  usage:
    'cp [-r] [-n] [--session-threshold 64M] [--chunk-size 16M] [--limit-rate 10M] <file|dir> js://<namespace>/<key>\n' +
    'cp [-r] js://<namespace>/<key|prefix> <file|dir>',
  options: {
    recursive: { type: 'boolean', short: 'r' },
    'no-clobber': { type: 'boolean', short: 'n' },
    'session-threshold': { type: 'string' },
    'chunk-size': { type: 'string' },
    'limit-rate': { type: 'string' },
  },
  async run(positionals, values) {
    if (positionals.length !== 2) throw usageError('cp takes a source and a destination')
    const [from, to] = positionals as [string, string]
    if (isRemote(from) === isRemote(to)) throw usageError('cp copies between a local path and a js:// location')
    const recursive = Boolean(values.recursive)
    const session = connect(values)
    const rate = values['limit-rate'] === undefined ? undefined : sizeOption(values, 'limit-rate', 0)
    const jobs = isRemote(to) ? uploadJobs(from, parseRemote(to), recursive) : await downloadJobs(parseRemote(from), to, recursive, session.api)
    const progress = newProgress(values, { files: jobs.length, bytes: jobs.reduce((sum, job) => sum + job.size, 0) })
    const context: TransferContext = {
      ...session,
      progress,
      limit: rate === undefined ? undefined : new RateLimit(rate),
      sessionThreshold: sizeOption(values, 'session-threshold', 64 * 2 ** 20),
      chunkSize: sizeOption(values, 'chunk-size', 16 * 2 ** 20),
      overwrite: !values['no-clobber'],
    }
    const failures: CliError[] = []
    for (const job of jobs) {
      let result: TransferResult
      try {
        result = await job.run(context)
      } catch (error) {
        if (!(error instanceof CliError)) throw error
        failures.push(error.about(job.label))
        result = job.failed(error)
      }
      progress.finish(result, summary(result))
    }
    progress.close()
    if (failures.length === 1 && jobs.length === 1) throw failures[0]!
    if (failures.length > 0) throw new CliError(failures[0]!.kind, `${failures.length} of ${jobs.length} transfers failed, the first ${failures[0]!.message}`, failures[0]!.code, failures[0]!.requestId)
  },
}
