/**
 * The container's health probe: GET /health on the address the service listens
 * on, read from PORT and LISTEN_ADDR as the service reads them; exits 0 when it
 * answers 200 within 4 s, 1 otherwise.
 */
import { loadConfig } from '../core/config'

const { hostname, port } = loadConfig()
// A wildcard address is reached through loopback; an IPv6 literal needs brackets in a URL.
const host = hostname === '0.0.0.0' ? '127.0.0.1' : hostname === '::' ? '[::1]' : hostname.includes(':') ? `[${hostname}]` : hostname
const response = await fetch(`http://${host}:${port}/health`, { signal: AbortSignal.timeout(4000) }).catch(() => undefined)
process.exit(response?.ok ? 0 : 1)
