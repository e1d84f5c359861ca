/**
 * The API key every request of the benchmark carries, so that authentication
 * is measured, not skipped: created with the admin token when a service starts.
 */
let header = ''

export const authorization = (): string => header
export const authorized = (headers: Record<string, string> = {}): Record<string, string> => ({ ...headers, authorization: header })

export async function issueApiKey(serviceUrl: string, adminToken: string, tenant: string): Promise<void> {
  const response = await fetch(`${serviceUrl}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bench', tenant_id: tenant, permissions: ['objects:read', 'objects:write', 'objects:delete'] }),
  })
  if (response.status !== 201) throw new Error(`creating the bench API key answered ${response.status}: ${await response.text()}`)
  header = `Bearer ${((await response.json()) as { key: string }).key}`
}
