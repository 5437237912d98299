import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';
import {
  buildExecEnv,
  chooseExecProtocol,
  createExecWebSocketServer,
  runExecSession,
  type ExecFaults,
  type ExecSession,
  type ExecSessionSpec,
} from './fake-kube-exec.js';
import { matchesLabelSelector, parseLabelSelector } from './fake-kube-label-selector.js';
import { type FakeRbac, forbiddenMessage, isAllowed, type ResourceAttributes } from './fake-kube-rbac.js';
import { generateTestTls } from './tls.js';

export type { ExecExit, ExecFaults } from './fake-kube-exec.js';
export type { FakeRbac, PolicyRule } from './fake-kube-rbac.js';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface FakeContainer {
  name: string;
  ready: boolean;
  /** Variables the exec'd process gets on top of PATH, HOME and LANG. */
  env?: Record<string, string>;
  /** Working directory of the exec'd process; a temp dir of the fake when absent. */
  workingDir?: string;
}

/** A pod as plain data. Tests may push, edit or remove pods in `FakeKubeApi.pods` at any time. */
export interface FakePod {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  phase: PodPhase;
  containers: FakeContainer[];
  /** Overrides the server-wide faults for execs into this pod. */
  faults?: ExecFaults;
}

export interface FakeKubeApiOptions {
  pods?: FakePod[];
  /** Faults for every exec unless the pod has its own. */
  faults?: ExecFaults;
  /**
   * RBAC mode: the bearer token stands for this service account, and every request the RBAC objects do not grant is
   * answered 403 Forbidden, as kube-apiserver does (see fake-kube-rbac.ts). Absent: the token may do everything.
   */
  rbac?: FakeRbac;
  /**
   * Labels a pod carries besides its own `labels` (which win), computed each time it is read: the tests give pods the
   * workspace label of the deployment they serve this way, whenever that deployment is created.
   */
  podLabels?: (pod: FakePod) => Record<string, string>;
  /** Labels of namespaces (`GET /api/v1/namespaces/{name}`); editable later through `FakeKubeApi.namespaceLabels`. */
  namespaceLabels?: Record<string, Record<string, string>>;
}

/** One authorization decision of the RBAC mode: the request's attributes and whether they were granted. */
export interface AuthorizationRecord extends ResourceAttributes {
  allowed: boolean;
}

/** One request the fake received; the bearer token is replaced by `<redacted>`. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string[]>;
  headers: IncomingHttpHeaders;
}

/** One exec the fake started, with live byte counters and how the process ended. */
export interface ExecRecord extends ExecSession {
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
  protocol: string;
}

export interface FakeKubeApi {
  url: string;
  token: string;
  caPem: string;
  /** A kubeconfig file for kubectl (`--kubeconfig`). */
  kubeconfigPath: string;
  /** A client-node KubeConfig trusting the fake's CA and sending its bearer token. */
  kubeConfig(): KubeConfig;
  pods: FakePod[];
  /** Labels of namespaces, by name; editable at any time. */
  namespaceLabels: Record<string, Record<string, string>>;
  requests: RecordedRequest[];
  execs: ExecRecord[];
  /** Every authorization decision of the RBAC mode, in order (empty without it). */
  authorizations: AuthorizationRecord[];
  /** Kills every exec'd process, closes every connection and removes the temp dir. */
  close(): Promise<void>;
}

type KubeStatus = Record<string, unknown> & { code: number };
type ExecTarget =
  { ok: true; pod: FakePod; container: FakeContainer; spec: ExecSessionSpec } | { ok: false; status: KubeStatus };

const CONTEXT_NAME = 'fake-kube-api';
const NAMESPACE_PATH = /^\/api\/v1\/namespaces\/([^/]+)$/;
const POD_LIST_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/;
const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/;
const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;

/** Legacy (unaggregated) discovery documents; kubectl reads these before it does anything else. */
const DISCOVERY: Record<string, unknown> = {
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0-fake', platform: 'linux/amd64' },
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
  '/api/v1': {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    ],
  },
};

/**
 * Starts an HTTPS Kubernetes API double on 127.0.0.1 that lists and gets pods and runs `pods/exec` over the real
 * WebSocket channel protocol, spawning the command as a local process. Works with kubectl and @kubernetes/client-node.
 */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const directory = await mkdtemp(path.join(tmpdir(), 'fake-kube-api-'));
  const workDirectory = path.join(directory, 'work');
  await mkdir(workDirectory);
  const tls = await generateTestTls(directory);
  const token = randomBytes(24).toString('hex');
  const pods = options.pods ?? [];
  const namespaceLabels = options.namespaceLabels ?? {};
  const labelsOf = (pod: FakePod): Record<string, string> => ({ ...options.podLabels?.(pod), ...pod.labels });
  const requests: RecordedRequest[] = [];
  const execs: ExecRecord[] = [];
  const authorizations: AuthorizationRecord[] = [];
  /** The 403 status for the first of `checks` the RBAC mode does not grant; null when all are granted (or no RBAC). */
  const authorize = (...checks: ResourceAttributes[]): KubeStatus | null => {
    const rbac = options.rbac;
    if (!rbac) return null;
    for (const check of checks) {
      const allowed = isAllowed(rbac, check);
      authorizations.push({ ...check, allowed });
      if (!allowed) {
        return failureStatus(403, 'Forbidden', forbiddenMessage(rbac, check), {
          ...(check.name ? { name: check.name } : {}),
          kind: check.resource,
        });
      }
    }
    return null;
  };
  const core = (verb: string, resource: string, namespace: string, name = '', subresource?: string) => ({
    verb,
    apiGroup: '',
    resource,
    namespace,
    name,
    ...(subresource ? { subresource } : {}),
  });
  const upgradedSockets = new Set<Duplex>();
  const webSockets = createExecWebSocketServer();

  const findPod = (namespace: string, name: string) =>
    pods.find((pod) => pod.namespace === namespace && pod.name === name);

  const server = createServer({ key: tls.keyPem, cert: tls.certPem }, (request, response) => {
    const url = recordRequest(request, requests);
    if (!isAuthorized(request, token)) return sendStatus(response, unauthorizedStatus());
    if (request.method !== 'GET')
      return sendStatus(
        response,
        failureStatus(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'),
      );

    const listMatch = POD_LIST_PATH.exec(url.pathname);
    if (listMatch) {
      const namespace = decodeURIComponent(listMatch[1]!);
      const forbidden = authorize(core(url.searchParams.get('watch') === 'true' ? 'watch' : 'list', 'pods', namespace));
      if (forbidden) return sendStatus(response, forbidden);
      const selector = parseLabelSelector(url.searchParams.get('labelSelector') ?? '');
      if (!selector.ok) return sendStatus(response, failureStatus(400, 'BadRequest', selector.error));
      const items = pods
        .filter((pod) => pod.namespace === namespace && matchesLabelSelector(labelsOf(pod), selector.requirements))
        .map((pod) => toPodJson(pod, labelsOf(pod)));
      return sendJson(response, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
    }
    const podMatch = POD_PATH.exec(url.pathname);
    if (podMatch) {
      const [namespace, name] = [decodeURIComponent(podMatch[1]!), decodeURIComponent(podMatch[2]!)];
      const forbidden = authorize(core('get', 'pods', namespace, name));
      if (forbidden) return sendStatus(response, forbidden);
      const pod = findPod(namespace, name);
      return pod
        ? sendJson(response, 200, toPodJson(pod, labelsOf(pod)))
        : sendStatus(response, podNotFoundStatus(name));
    }
    const plainExecMatch = EXEC_PATH.exec(url.pathname);
    if (plainExecMatch) {
      const [namespace, name] = [decodeURIComponent(plainExecMatch[1]!), decodeURIComponent(plainExecMatch[2]!)];
      const forbidden = authorize(core('get', 'pods', namespace, name, 'exec'));
      if (forbidden) return sendStatus(response, forbidden);
      return sendStatus(response, failureStatus(400, 'BadRequest', 'Upgrade request required'));
    }
    const namespaceMatch = NAMESPACE_PATH.exec(url.pathname);
    if (namespaceMatch) {
      // kubectl looks the namespace up after a pod 404. A namespace exists when a pod lives in it (`default` always does).
      const namespace = decodeURIComponent(namespaceMatch[1]!);
      const forbidden = authorize(core('get', 'namespaces', namespace, namespace));
      if (forbidden) return sendStatus(response, forbidden);
      if (namespace !== 'default' && !pods.some((pod) => pod.namespace === namespace)) {
        return sendStatus(
          response,
          failureStatus(404, 'NotFound', `namespaces "${namespace}" not found`, {
            name: namespace,
            kind: 'namespaces',
          }),
        );
      }
      return sendJson(response, 200, {
        kind: 'Namespace',
        apiVersion: 'v1',
        metadata: { name: namespace, labels: namespaceLabels[namespace] ?? {} },
        status: { phase: 'Active' },
      });
    }
    const discovery = DISCOVERY[url.pathname];
    if (discovery) return sendJson(response, 200, discovery);
    return sendStatus(response, failureStatus(404, 'NotFound', 'the server could not find the requested resource'));
  });

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = recordRequest(request, requests);
    socket.on('error', () => {
      // Resets from clients that give up are expected in fault-injection tests.
    });
    const target = resolveExecTarget(request, url);
    if (!target.ok) return rejectUpgrade(socket, target.status);
    upgradedSockets.add(socket);
    socket.once('close', () => upgradedSockets.delete(socket));
    webSockets.handleUpgrade(request, socket, head, (ws) => {
      const session = runExecSession(ws, socket, target.spec);
      const [namespace, pod] = [target.pod.namespace, target.pod.name];
      execs.push({
        namespace,
        pod,
        container: target.container.name,
        argv: target.spec.argv,
        protocol: ws.protocol,
        ...session,
      });
    });
  });

  function resolveExecTarget(request: IncomingMessage, url: URL): ExecTarget {
    const fail = (code: number, reason: string, message: string): ExecTarget => ({
      ok: false,
      status: failureStatus(code, reason, message),
    });
    if (!isAuthorized(request, token)) return { ok: false, status: unauthorizedStatus() };
    const execMatch = EXEC_PATH.exec(url.pathname);
    if (!execMatch) return fail(404, 'NotFound', 'the server could not find the requested resource');
    const [namespace, name] = [decodeURIComponent(execMatch[1]!), decodeURIComponent(execMatch[2]!)];
    // A WebSocket upgrade is a GET: `get` on pods/exec, and since Kubernetes 1.35 also `create` (see fake-kube-rbac.ts).
    const forbidden = authorize(
      core('get', 'pods', namespace, name, 'exec'),
      core('create', 'pods', namespace, name, 'exec'),
    );
    if (forbidden) return { ok: false, status: forbidden };
    const pod = findPod(namespace, name);
    if (!pod) return { ok: false, status: podNotFoundStatus(name) };

    const query = url.searchParams;
    const containerName = query.get('container') ?? (pod.containers.length === 1 ? pod.containers[0]!.name : undefined);
    if (containerName === undefined) {
      const names = pod.containers.map((container) => container.name).join(' ');
      return fail(400, 'BadRequest', `a container name must be specified for pod ${name}, choose one of: [${names}]`);
    }
    const container = pod.containers.find((candidate) => candidate.name === containerName);
    if (!container) return fail(400, 'BadRequest', `container ${containerName} is not valid for pod ${name}`);
    if (pod.phase === 'Succeeded' || pod.phase === 'Failed') {
      return fail(400, 'BadRequest', `cannot exec into a container in a completed pod; current phase is ${pod.phase}`);
    }
    if (pod.phase !== 'Running')
      return fail(400, 'BadRequest', `unable to upgrade connection: container not found ("${containerName}")`);
    if (!container.ready)
      return fail(400, 'BadRequest', `unable to upgrade connection: container not running ("${containerName}")`);

    const argv = query.getAll('command');
    if (argv.length === 0) return fail(400, 'BadRequest', 'you must specify at least one command for the container');
    if (query.get('tty') === 'true') return fail(400, 'BadRequest', 'tty is not supported by the fake API server');
    if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
      return fail(
        400,
        'BadRequest',
        `unable to upgrade connection: the fake API server only speaks WebSocket, not ${request.headers.upgrade}`,
      );
    }
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim());
    if (!chooseExecProtocol(offered)) {
      return fail(
        400,
        'BadRequest',
        `unable to upgrade connection: none of the offered subprotocols [${offered.join(', ')}] is supported`,
      );
    }
    const spec: ExecSessionSpec = {
      argv,
      env: buildExecEnv(workDirectory, container.env),
      cwd: container.workingDir ?? workDirectory,
      stdin: query.get('stdin') === 'true',
      stdout: query.get('stdout') === 'true',
      stderr: query.get('stderr') === 'true',
      faults: pod.faults ?? options.faults ?? {},
    };
    return { ok: true, pod, container, spec };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigPath = path.join(directory, 'kubeconfig.json');
  await writeFile(kubeconfigPath, JSON.stringify(buildKubeconfigFile(url, tls.caPem, token), null, 2));

  return {
    url,
    token,
    caPem: tls.caPem,
    kubeconfigPath,
    kubeConfig: () => buildKubeConfig(url, tls.caPem, token),
    pods,
    namespaceLabels,
    requests,
    execs,
    authorizations,
    async close() {
      for (const socket of upgradedSockets) socket.destroy();
      webSockets.close();
      await Promise.allSettled(execs.map((exec) => exec.exited));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function buildKubeConfig(url: string, caPem: string, token: string): KubeConfig {
  const cluster: Cluster = {
    name: CONTEXT_NAME,
    server: url,
    caData: Buffer.from(caPem).toString('base64'),
    skipTLSVerify: false,
  };
  const user: User = { name: CONTEXT_NAME, token };
  const context: Context = { name: CONTEXT_NAME, cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace: 'default' };
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({ clusters: [cluster], users: [user], contexts: [context], currentContext: CONTEXT_NAME });
  return kubeConfig;
}

/** kubeconfig YAML is a superset of JSON, so kubectl reads this as is. */
function buildKubeconfigFile(url: string, caPem: string, token: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CONTEXT_NAME,
        cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: CONTEXT_NAME, user: { token } }],
    contexts: [{ name: CONTEXT_NAME, context: { cluster: CONTEXT_NAME, user: CONTEXT_NAME, namespace: 'default' } }],
    'current-context': CONTEXT_NAME,
  };
}

function toPodJson(pod: FakePod, labels: Record<string, string>): Record<string, unknown> {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name: pod.name, namespace: pod.namespace, labels },
    spec: {
      containers: pod.containers.map((container) => ({
        name: container.name,
        image: `fake.invalid/${container.name}`,
        ...(container.env && { env: Object.entries(container.env).map(([name, value]) => ({ name, value })) }),
        ...(container.workingDir && { workingDir: container.workingDir }),
      })),
    },
    status: {
      phase: pod.phase,
      containerStatuses: pod.containers.map((container) => {
        const running = pod.phase === 'Running';
        return {
          name: container.name,
          ready: container.ready,
          started: running,
          restartCount: 0,
          image: `fake.invalid/${container.name}`,
          imageID: '',
          state: running ? { running: {} } : { waiting: { reason: 'ContainerCreating' } },
        };
      }),
    },
  };
}

function recordRequest(request: IncomingMessage, requests: RecordedRequest[]): URL {
  const url = new URL(request.url ?? '/', 'https://127.0.0.1');
  const query: Record<string, string[]> = {};
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key);
  const headers = { ...request.headers };
  if (headers.authorization !== undefined)
    headers.authorization = headers.authorization.replace(/^(Bearer\s+).*$/i, '$1<redacted>');
  requests.push({ method: request.method ?? 'GET', path: url.pathname, query, headers });
  return url;
}

function isAuthorized(request: IncomingMessage, token: string): boolean {
  return request.headers.authorization === `Bearer ${token}`;
}

function failureStatus(code: number, reason: string, message: string, details?: Record<string, unknown>): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details && { details }),
    code,
  };
}

function unauthorizedStatus(): KubeStatus {
  return failureStatus(401, 'Unauthorized', 'Unauthorized');
}

function podNotFoundStatus(name: string): KubeStatus {
  return failureStatus(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function sendStatus(response: ServerResponse, status: KubeStatus): void {
  sendJson(response, status.code, status);
}

/** Answers an upgrade request with a plain HTTP error, as the API server does before switching protocols. */
function rejectUpgrade(socket: Duplex, status: KubeStatus): void {
  const body = JSON.stringify(status);
  socket.end(
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
