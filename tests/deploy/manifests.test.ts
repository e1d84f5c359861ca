import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { loadConfig } from '../../core/config'
import { startServer } from '../support/server'

const root = resolve(import.meta.dir, '../..')
const k8sDir = join(root, 'k8s')
const read = (path: string) => readFileSync(join(root, path), 'utf8')

type Manifest = Record<string, any>

/** Every document of every YAML file in k8s/, failing on any parse error. */
function loadManifests(): { file: string; doc: Manifest }[] {
  const out: { file: string; doc: Manifest }[] = []
  for (const file of readdirSync(k8sDir).filter((name) => /\.ya?ml$/.test(name)).sort()) {
    for (const document of parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((e) => e.message).join('; ')}`)
      const doc = document.toJS() as Manifest | null
      if (doc !== null) out.push({ file, doc })
    }
  }
  return out
}

const manifests = loadManifests()

function one(kind: string, name?: string): Manifest {
  const found = manifests.filter(({ doc }) => doc.kind === kind && (name === undefined || doc.metadata?.name === name))
  expect(found.map(({ doc }) => `${doc.kind}/${doc.metadata?.name}`)).toHaveLength(1)
  return found[0]!.doc
}

/**
 * The environment variable names the service reads, taken from core/config.ts
 * itself: names passed to the parsing helpers (`integer(env, 'NAME', …)`) and
 * direct `env.NAME` reads.
 */
function namesReadByService(): Set<string> {
  const source = read('core/config.ts')
  const names = new Set<string>()
  for (const match of source.matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)) names.add(match[1]!)
  for (const match of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)\b/g)) names.add(match[1]!)
  return names
}

// Being added to core/config.ts by another change; allowed explicitly until then.
const pendingNames = ['LOG_LEVEL']

const statefulSet = one('StatefulSet', 'juststorage')
const pod = statefulSet.spec.template.spec
const container = pod.containers.find((c: Manifest) => c.name === 'juststorage')
const configMap = one('ConfigMap', 'juststorage-config')
const secret = one('Secret', 'juststorage-secrets')

describe('k8s manifests', () => {
  test('every document parses and carries the app label', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(9)
    for (const { file, doc } of manifests) {
      expect([file, doc.apiVersion, doc.kind, doc.metadata?.name]).toEqual([file, expect.any(String), expect.any(String), expect.any(String)])
      expect([file, doc.metadata.labels?.['app.kubernetes.io/name']]).toEqual([file, 'juststorage'])
      if (doc.kind !== 'Namespace') expect([file, doc.metadata.namespace]).toEqual([file, 'juststorage'])
    }
    one('Namespace', 'juststorage')
  })

  test('the extraction of config names finds what core/config.ts reads', () => {
    const names = namesReadByService()
    for (const name of ['PORT', 'LISTEN_ADDR', 'DATA_DIR', 'DATABASE_URL', 'GC_GRACE_SECS', 'JWT_PUBLIC_KEY', 'ADMIN_TOKEN', 'SHUTDOWN_GRACE_SECS']) {
      expect(names).toContain(name)
    }
  })

  test('every variable named in the ConfigMap and the Secret template is one the service reads', () => {
    const known = new Set([...namesReadByService(), ...pendingNames])
    const used = [...Object.keys(configMap.data), ...Object.keys(secret.stringData)]
    expect(used.filter((name) => !known.has(name))).toEqual([])
    for (const name of ['DATABASE_URL', 'ADMIN_TOKEN', 'JWT_SECRET', 'JWKS_URL', 'JWT_PUBLIC_KEY', 'JWT_ISSUER', 'JWT_AUDIENCE']) {
      expect(Object.keys(secret.stringData)).toContain(name)
    }
    // Secrets stay out of the ConfigMap.
    expect(Object.keys(configMap.data).filter((name) => /TOKEN|SECRET|DATABASE_URL|JWT|JWKS/.test(name))).toEqual([])
  })

  test('the Secret template as it stands does not start a service: its admin token placeholder is refused', () => {
    expect(() => loadConfig({ ...configMap.data, ...secret.stringData })).toThrow(/^ADMIN_TOKEN: must be at least 32 bytes/)
  })

  test('the ConfigMap and Secret template, with a real admin token filled in, are a configuration the service accepts', () => {
    const config = loadConfig({ ...configMap.data, ...secret.stringData, ADMIN_TOKEN: 'filled-in-by-the-operator-0123456789' })
    expect(config.storage).toEqual({ hot: { kind: 'directory', path: '/data/hot' }, cold: { kind: 'directory', path: '/data/cold' } })
    expect(config.port).toBe(8080)
    expect(config.shutdownGraceSecs).toBe(30)
    expect(config.databaseUrl).toMatch(/^postgres:\/\//)
  })

  test('the StatefulSet keeps hot and cold data on their own Longhorn volumes', () => {
    const claims = Object.fromEntries(statefulSet.spec.volumeClaimTemplates.map((t: Manifest) => [t.metadata.name, t.spec.storageClassName]))
    expect(claims).toEqual({ hot: 'longhorn-nvme', cold: 'longhorn-standard' })
    const mounts = Object.fromEntries(container.volumeMounts.map((m: Manifest) => [m.name, m]))
    expect(mounts.hot.mountPath).toBe('/data/hot')
    expect(mounts.cold.mountPath).toBe('/data/cold')
    expect(mounts.hot.readOnly).toBeFalsy()
    expect(mounts.cold.readOnly).toBeFalsy()
    // The mounts are where the service puts its blob roots.
    expect(configMap.data.HOT_STORAGE_ROOT).toBe('/data/hot')
    expect(configMap.data.COLD_STORAGE_ROOT).toBe('/data/cold')
    // Every replica must see every blob file: per-pod ReadWriteOnce claims allow only one.
    const perPod = statefulSet.spec.volumeClaimTemplates.some((t: Manifest) => t.spec.accessModes.includes('ReadWriteOnce'))
    if (perPod) expect(statefulSet.spec.replicas).toBe(1)
    expect(statefulSet.spec.serviceName).toBe(one('Service', 'juststorage-headless').metadata.name)
    expect(statefulSet.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'juststorage' })
    expect(statefulSet.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('juststorage')
  })

  test('the container takes its environment from the ConfigMap and the Secret', () => {
    expect(container.envFrom).toContainEqual({ configMapRef: { name: configMap.metadata.name } })
    expect(container.envFrom).toContainEqual({ secretRef: { name: secret.metadata.name } })
    expect(container.ports).toContainEqual({ name: 'http', containerPort: 8080, protocol: 'TCP' })
  })

  test('probes check liveness on /health and readiness on /health/ready', () => {
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' })
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' })
    expect(container.startupProbe.httpGet.path).toMatch(/^\/health/)
    expect(container.startupProbe.failureThreshold * container.startupProbe.periodSeconds).toBeGreaterThanOrEqual(60)
  })

  test('resources have requests and limits', () => {
    expect(container.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '512Mi' } })
  })

  test('the pod outlives its own shutdown drain', () => {
    const drain = Number(configMap.data.SHUTDOWN_GRACE_SECS)
    expect(drain).toBe(30)
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drain)
  })

  test('the pod runs as uid 10001 on a read-only root with writable data volumes', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 })
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })
    const volumeNames = new Set(container.volumeMounts.map((m: Manifest) => m.name))
    const claimNames = statefulSet.spec.volumeClaimTemplates.map((t: Manifest) => t.metadata.name)
    const podVolumes = (pod.volumes ?? []).map((v: Manifest) => v.name)
    // Every mount is backed by a claim or a pod volume.
    for (const name of volumeNames) expect([...claimNames, ...podVolumes]).toContain(name)
  })

  test('services: ClusterIP 80 → 8080 and a headless one for the StatefulSet', () => {
    const service = one('Service', 'juststorage')
    expect(service.spec.type).toBe('ClusterIP')
    expect(service.spec.ports).toContainEqual({ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' })
    expect(service.spec.selector).toEqual({ 'app.kubernetes.io/name': 'juststorage' })
    const headless = one('Service', 'juststorage-headless')
    expect(headless.spec.clusterIP).toBe('None')
    expect(headless.spec.selector).toEqual({ 'app.kubernetes.io/name': 'juststorage' })
  })

  test('metrics have a listener of their own: the port the ConfigMap gives the service is the container port named metrics', () => {
    const config = loadConfig({ ...configMap.data, ...secret.stringData, ADMIN_TOKEN: 'filled-in-by-the-operator-0123456789' })
    expect(config.metricsListen).toEqual({ hostname: '0.0.0.0', port: 9090 })
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: config.metricsListen!.port, protocol: 'TCP' })
    expect(container.ports).toContainEqual({ name: 'http', containerPort: config.port, protocol: 'TCP' })
  })

  test('a NetworkPolicy opens the API port to everyone and the metrics port to Prometheus only', () => {
    const policy = one('NetworkPolicy', 'juststorage')
    expect(policy.apiVersion).toBe('networking.k8s.io/v1')
    expect(policy.spec.podSelector.matchLabels).toEqual(statefulSet.spec.template.metadata.labels)
    expect(policy.spec.policyTypes).toEqual(['Ingress'])
    const rules: Manifest[] = policy.spec.ingress
    const portsOf = (rule: Manifest) => rule.ports.map((p: Manifest) => p.port)
    const containerPortNames = container.ports.map((p: Manifest) => p.name)
    for (const rule of rules) for (const port of portsOf(rule)) expect(containerPortNames).toContain(port)
    // A rule without `from` admits every source: only the API port may have one.
    expect(rules.filter((rule) => rule.from === undefined).map(portsOf)).toEqual([['http']])
    const metricsRules = rules.filter((rule) => portsOf(rule).includes('metrics'))
    expect(metricsRules.length).toBeGreaterThan(0)
    for (const rule of metricsRules) {
      expect(rule.from.length).toBeGreaterThan(0)
      for (const peer of rule.from) {
        expect(peer.ipBlock).toBeUndefined()
        expect(peer.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'monitoring' })
        expect(peer.podSelector?.matchLabels).toEqual({ 'app.kubernetes.io/name': 'prometheus' })
      }
    }
    // Every port the pod listens on is covered by a rule, or its traffic would be dropped.
    expect(rules.flatMap(portsOf).sort()).toEqual([...containerPortNames].sort())
  })

  test('a PodDisruptionBudget allows one pod down at a time', () => {
    const pdb = one('PodDisruptionBudget')
    expect(pdb.apiVersion).toBe('policy/v1')
    expect(pdb.spec.maxUnavailable).toBe(1)
    expect(pdb.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'juststorage' })
  })

  test('a ServiceMonitor scrapes /metrics from the ClusterIP service only, on its metrics port', () => {
    const monitor = one('ServiceMonitor')
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1')
    expect(monitor.spec.endpoints).toContainEqual(expect.objectContaining({ port: 'metrics', path: '/metrics' }))
    expect(one('Service', 'juststorage').spec.ports).toContainEqual({ name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' })
    const labelsOf = (name: string) => one('Service', name).metadata.labels
    const matches = (labels: Record<string, string>) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => labels[k] === v)
    expect(matches(labelsOf('juststorage'))).toBe(true)
    expect(matches(labelsOf('juststorage-headless'))).toBe(false)
  })

  test('alerts cover 5xx rate, storage near full, GC not running or failing, corrupt blobs', () => {
    const rule = one('PrometheusRule')
    const rules: Manifest[] = rule.spec.groups.flatMap((g: Manifest) => g.rules)
    const alerts = Object.fromEntries(rules.map((r) => [r.alert, r.expr as string]))
    expect(Object.keys(alerts).sort()).toEqual([
      'JustStorageCorruptBlobs',
      'JustStorageGcFailing',
      'JustStorageGcNotRunning',
      'JustStorageHigh5xxRate',
      'JustStorageStorageCriticallyFull',
      'JustStorageStorageNearFull',
    ])
    expect(alerts.JustStorageHigh5xxRate).toContain('juststorage_requests_total{status=~"5.."}')
    expect(alerts.JustStorageStorageNearFull).toContain('juststorage_storage_root_free_bytes / juststorage_storage_root_size_bytes')
    expect(alerts.JustStorageGcNotRunning).toMatch(/increase\(juststorage_gc_runs_total\[10m\]\)\) == 0/)
    expect(alerts.JustStorageGcFailing).toContain('increase(juststorage_gc_failures_total')
    expect(alerts.JustStorageCorruptBlobs).toMatch(/increase\(juststorage_scrub_corrupt_blobs_total\[\w+\]\)\) > 0/)
    for (const r of rules) expect([r.alert, r.labels?.severity]).toEqual([r.alert, expect.stringMatching(/^(warning|critical)$/)])
  })
})

/** The Dockerfile split into stages: the FROM line and the instructions after it. */
function dockerStages(): { from: string; name: string | undefined; lines: string[] }[] {
  // Join continuation lines, drop comments and blanks.
  const lines = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const stages: { from: string; name: string | undefined; lines: string[] }[] = []
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line)
    if (from) stages.push({ from: from[1]!, name: from[2], lines: [] })
    else stages.at(-1)?.lines.push(line)
  }
  return stages
}

describe('Dockerfile', () => {
  const stages = dockerStages()
  const runtime = stages.at(-1)!
  const instructions = (keyword: string) => runtime.lines.filter((l) => l.toUpperCase().startsWith(`${keyword} `))
  const packageJson = JSON.parse(read('package.json'))

  test('the runtime stage is the official bun image pinned to the devDependency version', () => {
    expect(packageJson.devDependencies.bun).toMatch(/^\d+\.\d+\.\d+$/)
    expect(runtime.from).toMatch(new RegExp(`^oven/bun:${packageJson.devDependencies.bun.replaceAll('.', '\\.')}(-slim|-distroless)?$`))
    expect(stages.length).toBeGreaterThanOrEqual(2)
  })

  test('it runs as a non-root user with the data directory as its volume, a healthcheck and bun main.ts', () => {
    const users = instructions('USER')
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)).toMatch(/^USER\s+10001(:10001)?$/)
    // One volume for blobs, the embedded database and the admin token: a recreated container keeps all of them or none.
    expect(instructions('VOLUME')).toEqual(['VOLUME ["/data"]'])
    // The probe reads PORT and LISTEN_ADDR as the service does, so a changed port is probed where it is.
    expect(instructions('HEALTHCHECK').join(' ')).toEndWith('CMD ["bun", "scripts/healthcheck.ts"]')
    expect(instructions('EXPOSE')).toEqual(['EXPOSE 8080'])
    expect(instructions('CMD').at(-1)).toBe('CMD ["bun", "main.ts"]')
    const env = instructions('ENV').join(' ')
    for (const setting of ['DATA_DIR=/data', 'HOT_STORAGE_ROOT=/data/hot', 'COLD_STORAGE_ROOT=/data/cold', 'PORT=8080']) expect(env).toContain(setting)
  })

  test('the runtime stage copies the application, migrations included', () => {
    const copies = instructions('COPY').join('\n')
    for (const path of ['app.ts', 'main.ts', 'package.json', 'core/', 'functions/', 'migrations/', 'scripts/']) {
      expect(copies).toContain(path)
      expect(existsSync(join(root, path))).toBe(true)
    }
  })

  test('node_modules come from a stage that ran npm ci, so patch-package applied patches/', () => {
    const copy = instructions('COPY').find((l) => /--from=\S+/.test(l) && l.includes('node_modules'))
    expect(copy).toBeDefined()
    const source = stages.find((s) => s.name === /--from=(\S+)/.exec(copy!)![1])
    expect(source).toBeDefined()
    const steps = source!.lines.join('\n')
    expect(steps).toMatch(/COPY .*package-lock\.json/)
    expect(steps).toMatch(/COPY patches\//)
    expect(steps).toMatch(/RUN npm ci\b/)
    // npm ci runs the root postinstall; patch-package must survive --omit=dev.
    expect(packageJson.scripts.postinstall).toBe('patch-package')
    expect(packageJson.dependencies['patch-package']).toBeDefined()
    expect(readdirSync(join(root, 'patches')).length).toBeGreaterThan(0)
  })

  test('the health probe asks the service where PORT or LISTEN_ADDR puts it, and fails where nothing answers', async () => {
    const server = await startServer('postgres')
    let running = true
    try {
      const port = new URL(server.url).port
      const probe = (env: Record<string, string>) => {
        const child = Bun.spawn([process.execPath, 'scripts/healthcheck.ts'], { cwd: root, env: { PATH: process.env.PATH ?? '', DATA_DIR: server.dataDir, ...env }, stdout: 'ignore', stderr: 'ignore' })
        return child.exited
      }
      expect(await probe({ PORT: port })).toBe(0)
      // LISTEN_ADDR wins over PORT, as in the service.
      expect(await probe({ PORT: '8', LISTEN_ADDR: `127.0.0.1:${port}` })).toBe(0)
      await server.stop()
      running = false
      expect(await probe({ PORT: port })).toBe(1)
    } finally {
      if (running) await server.stop()
    }
  }, 60_000)

  test('.dockerignore keeps local state out and lets the copied sources in', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter(Boolean)
    for (const entry of ['node_modules', 'data', '.git', 'tests', 'bench', 'docs', '*.log']) expect(ignored).toContain(entry)
    for (const needed of ['package.json', 'package-lock.json', 'patches', 'app.ts', 'main.ts', 'core', 'functions', 'migrations', 'scripts']) {
      expect(ignored).not.toContain(needed)
    }
  })
})
