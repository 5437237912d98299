import { describe, expect, it } from 'vitest';
import {
  type FakeRbac,
  forbiddenMessage,
  isAllowed,
  type ResourceAttributes,
} from '../../../src/dev/local-cluster/fake-kube-rbac.ts';

/** The RBAC authorizer of the fake API server, decided over plain objects like those `kubectl kustomize` renders. */
const ACCOUNT = { namespace: 'ops-agent', name: 'ops-agent-worker' };
const CLUSTER_ROLE = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'ops-agent-worker' },
  rules: [
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    { apiGroups: [''], resources: ['pods/exec'], verbs: ['get', 'create'] },
  ],
};
const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', namespace?: string, subject: object = {}) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind,
  metadata: { name: 'ops-agent-worker', ...(namespace ? { namespace } : {}) },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ops-agent-worker' },
  subjects: [{ kind: 'ServiceAccount', name: 'ops-agent-worker', namespace: 'ops-agent', ...subject }],
});
const rbac = (...objects: object[]): FakeRbac => ({ serviceAccount: ACCOUNT, objects: [CLUSTER_ROLE, ...objects] });
const request = (verb: string, resource: string, namespace: string, extra: Partial<ResourceAttributes> = {}) => ({
  verb,
  apiGroup: '',
  resource,
  namespace,
  name: '',
  ...extra,
});
const exec = (verb: string, namespace: string) =>
  request(verb, 'pods', namespace, { name: 'db-0', subresource: 'exec' });

describe('the fake API server RBAC authorizer', () => {
  const inApps = rbac(binding('RoleBinding', 'apps'));

  it.each<[string, FakeRbac, ResourceAttributes, boolean]>([
    ['list pods in a bound namespace', inApps, request('list', 'pods', 'apps'), true],
    ['list pods in another namespace', inApps, request('list', 'pods', 'shop'), false],
    [
      'get one pod (not granted: the worker only lists)',
      inApps,
      request('get', 'pods', 'apps', { name: 'db-0' }),
      false,
    ],
    ['watch pods', inApps, request('watch', 'pods', 'apps'), false],
    ['get pods/exec (the WebSocket GET)', inApps, exec('get', 'apps'), true],
    ['create pods/exec (1.35 synthetic check)', inApps, exec('create', 'apps'), true],
    ['create pods/exec in another namespace', inApps, exec('create', 'shop'), false],
    ['get secrets', inApps, request('get', 'secrets', 'apps', { name: 'db' }), false],
    [
      'list pods in a namespace bound to another account',
      rbac(binding('RoleBinding', 'apps', { name: 'other' })),
      request('list', 'pods', 'apps'),
      false,
    ],
    [
      'list pods anywhere through a ClusterRoleBinding',
      rbac(binding('ClusterRoleBinding')),
      request('list', 'pods', 'shop'),
      true,
    ],
    [
      'a Group subject for all service accounts of the namespace',
      rbac(
        binding('RoleBinding', 'apps', {
          kind: 'Group',
          name: 'system:serviceaccounts:ops-agent',
          namespace: undefined,
        }),
      ),
      request('list', 'pods', 'apps'),
      true,
    ],
  ])('%s: allowed = %s', (_story, policy, attributes, allowed) => {
    expect(isAllowed(policy, attributes)).toBe(allowed);
  });

  it('matches wildcards, subresource wildcards and resource names as kube-apiserver does', () => {
    const role = (rules: object[]) => ({
      serviceAccount: ACCOUNT,
      objects: [{ ...CLUSTER_ROLE, rules }, binding('RoleBinding', 'apps')],
    });
    expect(isAllowed(role([{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }]), exec('create', 'apps'))).toBe(true);
    expect(isAllowed(role([{ apiGroups: [''], resources: ['*/exec'], verbs: ['get'] }]), exec('get', 'apps'))).toBe(
      true,
    );
    expect(isAllowed(role([{ apiGroups: [''], resources: ['pods/*'], verbs: ['get'] }]), exec('get', 'apps'))).toBe(
      true,
    );
    expect(isAllowed(role([{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]), exec('get', 'apps'))).toBe(
      false,
    );
    expect(
      isAllowed(role([{ apiGroups: ['apps'], resources: ['pods'], verbs: ['list'] }]), request('list', 'pods', 'apps')),
    ).toBe(false);
    const named = role([{ apiGroups: [''], resources: ['pods/exec'], verbs: ['get'], resourceNames: ['db-0'] }]);
    expect(isAllowed(named, exec('get', 'apps'))).toBe(true);
    expect(isAllowed(named, { ...exec('get', 'apps'), name: 'db-1' })).toBe(false);
  });

  it("words a refusal as kube-apiserver's Forbidden status does", () => {
    expect(forbiddenMessage(inApps, exec('create', 'shop'))).toBe(
      'pods "db-0" is forbidden: User "system:serviceaccount:ops-agent:ops-agent-worker" cannot create resource "pods/exec" in API group "" in the namespace "shop"',
    );
    expect(forbiddenMessage(inApps, request('list', 'pods', 'shop'))).toBe(
      'pods is forbidden: User "system:serviceaccount:ops-agent:ops-agent-worker" cannot list resource "pods" in API group "" in the namespace "shop"',
    );
  });
});
