import { afterAll, setDefaultTimeout } from 'bun:test'
import { stopSharedS3 } from './ceph'
import { stopSharedCluster } from './server'

// Tests start real servers, databases and child processes; the 5 s default is too short for those.
// Bun applies this to the first test file of a run only, so scripts/test.sh also passes --timeout.
setDefaultTimeout(120_000)

// Bun does not run process exit hooks after tests, so the shared clusters are stopped here.
afterAll(() => Promise.all([stopSharedCluster(), stopSharedS3()]))
