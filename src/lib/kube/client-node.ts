import { createRequire } from 'node:module';
import type * as ClientNode from '@kubernetes/client-node';
import type { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';

/**
 * @kubernetes/client-node, loaded on first use: its KubeConfig imports the whole generated Kubernetes API (~0.8 s at
 * start-up here), which a command that never execs (list, pin, prune, token) should not pay. The web process never
 * loads it (its clients refuse every call, see `noKubeClients`), so `next build` leaves the require to Node instead of
 * bundling the generated API into every server chunk (serverExternalPackages does not cover a `createRequire` call).
 */
let clientNode: typeof ClientNode | undefined;

export function loadClientNode(): typeof ClientNode {
  clientNode ??= createRequire(import.meta.url)(
    /* turbopackIgnore: true */ '@kubernetes/client-node',
  ) as typeof ClientNode;
  return clientNode;
}

/**
 * client-node's WebSocketHandler, which its index does not export (the package has no export map, so its file is
 * reachable): built with a socket factory of ours, it opens exec connections with our WebSocket options.
 */
export function loadWebSocketHandler(): typeof WebSocketHandler {
  return (
    createRequire(import.meta.url)(
      /* turbopackIgnore: true */ '@kubernetes/client-node/dist/web-socket-handler.js',
    ) as {
      WebSocketHandler: typeof WebSocketHandler;
    }
  ).WebSocketHandler;
}

/** Whether `error` is client-node's ApiException (an API server's HTTP answer); false while client-node is not loaded. */
export function isApiException(error: unknown): error is ClientNode.ApiException<unknown> {
  return clientNode !== undefined && error instanceof clientNode.ApiException;
}
