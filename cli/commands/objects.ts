import { createInterface } from 'node:readline/promises'
import { CliError, rethrowAbout, usageError } from '../errors'
import { type Command, connect, print } from '../command'
import { count, ok, type JsonBody } from '../client'
import { allUnder, objectsUnder, type StoredObject } from '../listing'
import { folderPrefix, parseRemote, type Remote, remoteString } from '../location'

function oneRemote(positionals: string[], command: string, needsKey: boolean): Remote {
  if (positionals.length !== 1) throw usageError(`${command} takes one js://<namespace>/<key> location`)
  const remote = parseRemote(positionals[0]!)
  if (needsKey && remote.key === '') throw usageError(`${command} needs a key: js://${remote.namespace}/<key>`)
  return remote
}

const objectName = (object: StoredObject): string => object.key ?? `id:${object.id}`

export const ls: Command = {
  usage: 'ls [-l] js://<namespace>/[prefix]',
  options: { long: { type: 'boolean', short: 'l' } },
  async run(positionals, values) {
    const remote = oneRemote(positionals, 'ls', false)
    const { api } = connect(values)
    // Keys are opaque to the service; ls shows them as folders by splitting on '/', below the prefix's last one.
    const directory = remote.key.slice(0, remote.key.lastIndexOf('/') + 1)
    const folders = new Map<string, { objects: number; bytes: number }>()
    const files: StoredObject[] = []
    for await (const object of objectsUnder(api, remote.namespace, remote.key)) {
      const rest = (object.key ?? '').slice(directory.length)
      const slash = rest.indexOf('/')
      if (object.key === null || slash === -1) {
        files.push(object)
        continue
      }
      const folder = folders.get(rest.slice(0, slash + 1)) ?? { objects: 0, bytes: 0 }
      folder.objects++
      folder.bytes += count(object.size_bytes)
      folders.set(rest.slice(0, slash + 1), folder)
    }
    const entries = [
      ...[...folders].map(([name, folder]) => ({ name, folder, object: undefined })),
      ...files.map((object) => ({ name: objectName(object).slice(object.key === null ? 0 : directory.length), folder: undefined, object })),
    ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const { name, folder, object } of entries) {
      if (values.json) console.log(JSON.stringify(object ?? { prefix: directory + name, objects: folder!.objects, size_bytes: folder!.bytes }))
      else if (!values.long) console.log(name)
      else if (object) console.log(`${String(count(object.size_bytes)).padStart(12)}  ${object.created_at}  ${object.content_hash}  ${name}`)
      else console.log(`${String(folder!.bytes).padStart(12)}  ${`${folder!.objects} object${folder!.objects === 1 ? '' : 's'}`.padEnd(24)}  ${'-'.padEnd(71)}  ${name}`)
    }
  },
}

export const stat: Command = {
  usage: 'stat js://<namespace>/<key>',
  options: {},
  async run(positionals, values) {
    const remote = oneRemote(positionals, 'stat', true)
    const { api } = connect(values)
    for await (const object of objectsUnder(api, remote.namespace, remote.key)) {
      if (object.key === remote.key) {
        console.log(values.json ? JSON.stringify(object) : JSON.stringify(object, null, 2))
        return
      }
    }
    throw new CliError('not_found', `${remoteString(remote)}: no such object`, 'not_found')
  },
}

async function confirmed(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr })
  try {
    return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim())
  } finally {
    prompt.close()
  }
}

/** More than this many objects in one rm -r asks first (or needs --yes). */
const confirmAbove = 10

export const rm: Command = {
  usage: 'rm js://<namespace>/<key>\nrm -r [--yes] js://<namespace>/<prefix>',
  options: { recursive: { type: 'boolean', short: 'r' }, yes: { type: 'boolean', short: 'y' } },
  async run(positionals, values) {
    const remote = oneRemote(positionals, 'rm', !values.recursive)
    const { api, tenant } = connect(values)
    if (!values.recursive) {
      const path = { namespace: remote.namespace, tenant_id: await tenant.get(), key: remote.key }
      await ok(api.DELETE('/v1/objects/by-key/{namespace}/{tenant_id}/{key}', { params: { path } })).catch(rethrowAbout(remoteString(remote)))
      print(values, { deleted: remoteString(remote) }, () => `deleted ${remoteString(remote)}`)
      return
    }
    const prefix = folderPrefix(remote.key)
    const where = remoteString({ ...remote, key: prefix })
    const objects = await allUnder(api, remote.namespace, prefix)
    if (objects.length === 0) throw new CliError('not_found', `nothing under ${where}`, 'not_found')
    if (objects.length > confirmAbove && !values.yes) {
      if (!process.stdin.isTTY) throw usageError(`refusing to delete ${objects.length} objects under ${where} without --yes`)
      if (!(await confirmed(`Delete ${objects.length} objects under ${where}?`))) throw usageError('not confirmed; nothing deleted')
    }
    let deleted = 0
    for (const object of objects) {
      const { error, response } = await api.DELETE('/v1/objects/{id}', { params: { path: { id: object.id } } })
      // Gone already (another client, an expiry): the outcome rm -r asks for.
      if (response.status === 404) continue
      if (!response.ok) throw new CliError('other', `deleted ${deleted} of ${objects.length}, then: ${(error as { error?: string })?.error ?? response.status}`, (error as { code?: string })?.code)
      deleted++
      const name = remoteString({ namespace: remote.namespace, key: objectName(object) })
      print(values, { deleted: name, id: object.id }, () => `deleted ${name}`)
    }
  },
}

export const presign: Command = {
  usage: 'presign js://<namespace>/<key> [--method GET|PUT] [--expires 3600]',
  options: { method: { type: 'string' }, expires: { type: 'string' } },
  async run(positionals, values) {
    const remote = oneRemote(positionals, 'presign', true)
    const method = String(values.method ?? 'GET').toUpperCase()
    if (method !== 'GET' && method !== 'PUT') throw usageError('--method is GET or PUT')
    const expiresIn = Number(values.expires ?? 3600)
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 604800) throw usageError('--expires takes 1 to 604800 seconds')
    const { api, settings } = connect(values)
    const body: JsonBody<'/v1/presign', 'post'> = { method, namespace: remote.namespace, key: remote.key, expires_in: expiresIn, ...(settings.tenant ? { tenant_id: settings.tenant } : {}) }
    const signed = await ok(api.POST('/v1/presign', { body })).catch(rethrowAbout(remoteString(remote)))
    // The service answers a path on itself.
    const url = signed.url.startsWith('/') ? `${settings.url}${signed.url}` : signed.url
    print(values, { ...signed, url }, () => url)
  },
}
