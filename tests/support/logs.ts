import { configureLog, type LogLevel } from '../../core/log'

export type LogLine = Record<string, unknown>

export interface LogCapture {
  lines: LogLine[]
  /** The request's log line; it is written once the response is sent, which can be after the client has read it. */
  request(requestId: string): Promise<LogLine>
}

/** Points the service's logger at memory, one parsed JSON object per line. */
export function captureLogs(level: LogLevel = 'info'): LogCapture {
  const lines: LogLine[] = []
  const waiting = new Map<string, (line: LogLine) => void>()
  configureLog(level, {
    write(text: string) {
      const line = JSON.parse(text) as LogLine
      lines.push(line)
      if (line.msg === 'request') waiting.get(String(line.request_id))?.(line)
    },
  })
  return {
    lines,
    request(requestId) {
      const found = lines.find((line) => line.msg === 'request' && line.request_id === requestId)
      if (found) return Promise.resolve(found)
      return new Promise((resolve) => waiting.set(requestId, resolve))
    },
  }
}
