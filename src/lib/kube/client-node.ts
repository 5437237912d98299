import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as ClientNode from '@kubernetes/client-node';
import type { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import type { WebSocket } from 'ws';

/** What the Kubernetes clients use of @kubernetes/client-node, and the `ws` its exec connections run on. */
export interface ClientNodeParts {
  ApiException: typeof ClientNode.ApiException;
  CoreV1Api: typeof ClientNode.CoreV1Api;
  Exec: typeof ClientNode.Exec;
  KubeConfig: typeof ClientNode.KubeConfig;
  /** Not exported by client-node's index (the package has no export map, so its file is reachable). */
  WebSocketHandler: typeof WebSocketHandler;
  WebSocket: typeof WebSocket;
}

/**
 * Next to the compiled `client-node.js`, `npm run build` writes these parts as one file (scripts/bundle-client-node.mjs):
 * from its package, client-node's index links about a thousand ES modules (the whole generated Kubernetes API), 0.3-0.4 s
 * of CPU at each start of a process; bundled, about 0.1 s.
 */
const BUNDLE = './client-node.bundle.cjs';

let parts: ClientNodeParts | undefined;

/**
 * @kubernetes/client-node, loaded on first use, so that a command that never execs (list, pin, prune, token) does not
 * pay for it: compiled (dist), from the bundle `npm run build` wrote; as TypeScript source (tsx, vitest), from the
 * packages. The web process never loads it (its clients refuse every call, see `noKubeClients`), so `next build` leaves
 * the requires to Node instead of bundling the generated API into every server chunk (serverExternalPackages does not
 * cover a `createRequire` call).
 */
export function loadClientNode(): ClientNodeParts {
  parts ??= import.meta.url.endsWith('.js') ? requireBundle() : requirePackages();
  return parts;
}

// The bundle's path is never written `new URL(…, import.meta.url)`: Turbopack takes that for an asset import.
function requireBundle(): ClientNodeParts {
  try {
    return createRequire(import.meta.url)(/* turbopackIgnore: true */ BUNDLE) as ClientNodeParts;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    throw new Error(
      `kube: ${path.join(path.dirname(fileURLToPath(import.meta.url)), BUNDLE)} is missing: the build writes it (npm run build, or node scripts/bundle-client-node.mjs <compiled src folder>)`,
      { cause: error },
    );
  }
}

function requirePackages(): ClientNodeParts {
  const require = createRequire(import.meta.url);
  const clientNode = require(/* turbopackIgnore: true */ '@kubernetes/client-node') as typeof ClientNode;
  const handler = require(/* turbopackIgnore: true */ '@kubernetes/client-node/dist/web-socket-handler.js') as {
    WebSocketHandler: typeof WebSocketHandler;
  };
  const ws = require(/* turbopackIgnore: true */ 'ws') as { WebSocket: typeof WebSocket };
  const { ApiException, CoreV1Api, Exec, KubeConfig } = clientNode;
  return {
    ApiException,
    CoreV1Api,
    Exec,
    KubeConfig,
    WebSocketHandler: handler.WebSocketHandler,
    WebSocket: ws.WebSocket,
  };
}

/** Whether `error` is client-node's ApiException (an API server's HTTP answer); false while client-node is not loaded. */
export function isApiException(error: unknown): error is ClientNode.ApiException<unknown> {
  return parts !== undefined && error instanceof parts.ApiException;
}
