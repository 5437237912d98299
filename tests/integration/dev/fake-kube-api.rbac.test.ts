import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Exec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApi, type FakeKubeApi } from '../../support/fake-kube-api.ts';
import { renderedWorkerRbac } from '../../support/kubernetes-manifests.ts';

/**
 * The fake API server in RBAC mode, with the worker's rules as `kubectl kustomize deploy/kubernetes` renders them and
 * one tenant namespace bound (`apps`), checked with kubectl (client-go), an independent client, and with the worker's
 * own client (client-node): what is granted works, the rest is refused with kube-apiserver's Forbidden status.
 */
const execFileAsync = promisify(execFile);
let fake: FakeKubeApi;

beforeAll(async () => {
  const container = { name: 'postgres', ready: true };
  fake = await startFakeKubeApi({
    pods: [
      { namespace: 'apps', name: 'db-0', labels: { app: 'db' }, phase: 'Running', containers: [container] },
      { namespace: 'shop', name: 'shop-0', labels: { app: 'db' }, phase: 'Running', containers: [container] },
    ],
    rbac: await renderedWorkerRbac(['apps']),
  });
});
afterAll(async () => {
  await fake.close();
});

async function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync('kubectl', ['--kubeconfig', fake.kubeconfigPath, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Runs `command` in a pod through client-node's Exec (a WebSocket GET), as the worker does. */
function clientExec(namespace: string, pod: string, command: string[]): Promise<{ stdout: string; status: string }> {
  let stdout = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stdout += chunk.toString('utf8');
      callback();
    },
  });
  return new Promise((resolve, reject) => {
    new Exec(fake.kubeConfig())
      .exec(namespace, pod, 'postgres', command, sink, null, null, false, (status) =>
        resolve({ stdout, status: status.status ?? '' }),
      )
      .catch(reject);
  });
}

describe('RBAC mode', () => {
  it('lets the worker list pods and exec into them in a tenant namespace (kubectl, client-node)', async () => {
    const listed = await kubectl('get', 'pods', '-n', 'apps', '-l', 'app=db', '-o', 'name');
    expect(listed).toMatchObject({ code: 0, stdout: 'pod/db-0\n' });
    expect(await clientExec('apps', 'db-0', ['printf', 'hello'])).toEqual({ stdout: 'hello', status: 'Success' });
    // Both verbs were checked for the WebSocket exec, as Kubernetes 1.35 does.
    const execChecks = fake.authorizations.filter((decision) => decision.subresource === 'exec');
    expect(execChecks.map(({ verb, allowed }) => ({ verb, allowed }))).toEqual([
      { verb: 'get', allowed: true },
      { verb: 'create', allowed: true },
    ]);
  });

  it('refuses everything in a namespace that was not added', async () => {
    const listed = await kubectl('get', 'pods', '-n', 'shop');
    expect(listed.code).not.toBe(0);
    expect(listed.stderr).toContain(
      'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:ops-agent:ops-agent-worker" cannot list resource "pods" in API group "" in the namespace "shop"',
    );
    await expect(clientExec('shop', 'shop-0', ['true'])).rejects.toThrowError('Unexpected server response: 403');
    expect(fake.execs.filter((record) => record.namespace === 'shop')).toEqual([]);
  });

  it('refuses what the rules do not grant: kubectl exec reads the pod first, which the worker never needs', async () => {
    const executed = await kubectl('exec', '-n', 'apps', 'db-0', '-c', 'postgres', '--', 'true');
    expect(executed.code).not.toBe(0);
    expect(executed.stderr).toContain('cannot get resource "pods" in API group "" in the namespace "apps"');
  });
});
