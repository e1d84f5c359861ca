import { setDefaultTimeout } from 'bun:test'

// Tests start real servers, databases and child processes; the 5 s default is too short for those.
setDefaultTimeout(120_000)
