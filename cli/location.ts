import { usageError } from './errors'

/** An object (or a key prefix) in the service: `js://<namespace>/<key>`. */
export interface Remote {
  namespace: string
  key: string
}

const scheme = 'js://'

export const isRemote = (argument: string): boolean => argument.startsWith(scheme)

export function parseRemote(argument: string): Remote {
  if (!isRemote(argument)) throw usageError(`${argument} is not a js://<namespace>/<key> location`)
  const rest = argument.slice(scheme.length)
  const slash = rest.indexOf('/')
  const namespace = slash === -1 ? rest : rest.slice(0, slash)
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(namespace)) throw usageError(`${argument}: the namespace must be 1-64 of A-Z a-z 0-9 _ -`)
  return { namespace, key: slash === -1 ? '' : rest.slice(slash + 1) }
}

export const remoteString = ({ namespace, key }: Remote): string => `${scheme}${namespace}/${key}`

/** A key prefix taken as a folder: `logs` and `logs/` both mean the keys under `logs/`. */
export const folderPrefix = (key: string): string => (key === '' || key.endsWith('/') ? key : `${key}/`)
