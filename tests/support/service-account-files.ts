import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FakeKubeApi } from './fake-kube-api.ts';

/** Where Kubernetes mounts a pod's service-account token, CA certificate and namespace. */
export const SERVICE_ACCOUNT_PATH = 'var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Lays out what a pod sees of its service account under `root` (as if it were `/`): the fake API server's bearer
 * token (no trailing newline, like a projected token), its CA and the namespace. Returns the environment variables
 * the kubelet sets, which say where the API server is.
 */
export async function writeServiceAccountFiles(
  root: string,
  fake: FakeKubeApi,
  namespace = 'ops-agent',
): Promise<{ KUBERNETES_SERVICE_HOST: string; KUBERNETES_SERVICE_PORT: string }> {
  const folder = path.join(root, SERVICE_ACCOUNT_PATH);
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'token'), fake.token);
  await writeFile(path.join(folder, 'ca.crt'), fake.caPem);
  await writeFile(path.join(folder, 'namespace'), namespace);
  const url = new URL(fake.url);
  return { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port };
}
