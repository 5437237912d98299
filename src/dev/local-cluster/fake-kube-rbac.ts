/**
 * RBAC for the fake Kubernetes API server: the request attributes the real API server derives from a request, and the
 * RBAC authorizer's decision over a set of Role, ClusterRole, RoleBinding and ClusterRoleBinding objects (as
 * `kubectl kustomize` renders them). Pure: objects and attributes in, a decision out.
 *
 * What it models, as kube-apiserver 1.35 does:
 * - a rule grants a request when its verbs, apiGroups and resources (`pods`, `pods/exec`, `*`, `*\/exec`,
 *   `pods/*`) match, and its resourceNames (when it has any) include the object's name;
 * - a ClusterRoleBinding grants its role everywhere; a RoleBinding grants its Role or ClusterRole in its own
 *   namespace only;
 * - a service account is the user `system:serviceaccount:{namespace}:{name}`, in the groups `system:serviceaccounts`,
 *   `system:serviceaccounts:{namespace}` and `system:authenticated`;
 * - an exec through a WebSocket is a GET: it needs `get` on `pods/exec`, and since 1.35 also `create`
 *   (AuthorizePodWebsocketUpgradeCreatePermission, on by default), so both verbs are checked;
 * - discovery (`/api`, `/apis`, `/version`, …) is allowed to every authenticated user, as the default
 *   `system:discovery` binding does.
 */

/** One rule of a Role or ClusterRole. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** What the authorizer decides on: a request to a resource, as kube-apiserver's RequestInfo describes it. */
export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  /** Empty for cluster-scoped resources. */
  namespace: string;
  /** Empty for collections (list). */
  name: string;
}

/** The fake's RBAC mode: who the fake's bearer token stands for, and the objects that grant it permissions. */
export interface FakeRbac {
  /** The service account the token belongs to. */
  serviceAccount: { namespace: string; name: string };
  /** Rendered manifests; only the RBAC kinds are read, everything else is ignored. */
  objects: readonly unknown[];
}

interface RbacObject {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind?: string; name?: string };
  subjects?: Array<{ kind?: string; name?: string; namespace?: string }>;
}

/** Whether the RBAC objects grant the service account the request. */
export function isAllowed(rbac: FakeRbac, request: ResourceAttributes): boolean {
  return rulesFor(rbac, request.namespace).some((rule) => ruleAllows(rule, request));
}

/** The rules that apply to the service account in `namespace` (empty: cluster-scoped requests). */
export function rulesFor(rbac: FakeRbac, namespace: string): PolicyRule[] {
  const objects = rbac.objects.filter(isRbacObject);
  const roleRules = (kind: string | undefined, name: string | undefined, bindingNamespace: string | undefined) =>
    objects
      .filter(
        (object) =>
          object.kind === kind &&
          object.metadata?.name === name &&
          (kind === 'ClusterRole' || object.metadata?.namespace === bindingNamespace),
      )
      .flatMap((role) => role.rules ?? []);
  const rules: PolicyRule[] = [];
  for (const binding of objects) {
    if (!(binding.subjects ?? []).some((subject) => subjectMatches(subject, rbac.serviceAccount))) continue;
    if (binding.kind === 'ClusterRoleBinding' && binding.roleRef?.kind === 'ClusterRole') {
      rules.push(...roleRules('ClusterRole', binding.roleRef.name, undefined));
    } else if (binding.kind === 'RoleBinding' && namespace !== '' && binding.metadata?.namespace === namespace) {
      rules.push(...roleRules(binding.roleRef?.kind, binding.roleRef?.name, namespace));
    }
  }
  return rules;
}

/** `pods "db-0" is forbidden: User "…" cannot create resource "pods/exec" in API group "" in the namespace "apps"`. */
export function forbiddenMessage(rbac: FakeRbac, request: ResourceAttributes): string {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const subject = request.name ? `${request.resource} "${request.name}"` : request.resource;
  const where = request.namespace ? ` in the namespace "${request.namespace}"` : ' at the cluster scope';
  return (
    `${subject} is forbidden: User "${serviceAccountUser(rbac.serviceAccount)}" cannot ${request.verb} resource ` +
    `"${resource}" in API group "${request.apiGroup}"${where}`
  );
}

export function serviceAccountUser({ namespace, name }: FakeRbac['serviceAccount']): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function subjectMatches(
  subject: { kind?: string; name?: string; namespace?: string },
  account: FakeRbac['serviceAccount'],
): boolean {
  if (subject.kind === 'ServiceAccount')
    return subject.name === account.name && subject.namespace === account.namespace;
  if (subject.kind === 'User') return subject.name === serviceAccountUser(account);
  if (subject.kind === 'Group') {
    const groups = ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, 'system:authenticated'];
    return groups.includes(subject.name ?? '');
  }
  return false;
}

function ruleAllows(rule: PolicyRule, request: ResourceAttributes): boolean {
  const verbs = rule.verbs ?? [];
  if (!verbs.includes('*') && !verbs.includes(request.verb)) return false;
  const groups = rule.apiGroups ?? [];
  if (!groups.includes('*') && !groups.includes(request.apiGroup)) return false;
  const wanted = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  const resources = rule.resources ?? [];
  const resourceMatches = resources.some(
    (resource) =>
      resource === '*' ||
      resource === wanted ||
      (request.subresource !== undefined &&
        (resource === `*/${request.subresource}` || resource === `${request.resource}/*`)),
  );
  if (!resourceMatches) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(request.name);
}

function isRbacObject(object: unknown): object is RbacObject {
  if (typeof object !== 'object' || object === null) return false;
  const kind = (object as RbacObject).kind;
  return kind === 'Role' || kind === 'ClusterRole' || kind === 'RoleBinding' || kind === 'ClusterRoleBinding';
}
