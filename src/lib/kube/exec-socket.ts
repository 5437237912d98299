import type { ClientOptions, WebSocket } from 'ws';
import { loadClientNode } from './client-node.ts';

/** Fills a frame's masking key with zeros, which makes ws send the payload as it is (XOR with zero). */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * Opens an exec's WebSocket as client-node would (`uri`, `protocols` and its TLS options: CA, client certificate or
 * token), with two settings of ours:
 *
 * - `perMessageDeflate: false`: frames are never compressed (ws offers the extension by default; the API server does
 *   not take it, and a stdin frame queued behind a compressor would be held by reference after `send` returns, which
 *   the frame pool of `execWithInput` relies on not happening);
 * - over TLS (`wss:`), a zero masking key. A client masks every frame so that a proxy that reads the clear text of the
 *   connection cannot be fooled by bytes a web page chose (RFC 6455, 10.3); over TLS no proxy reads it, and masking
 *   with a random key copied every stdin byte once more into a new buffer (about 0.7 s of CPU per GiB restored here, with
 *   the garbage collections it caused). The frames still carry the mask bit, so any server reads them as before. Over a
 *   plain `ws:` connection the key stays random: what a restore sends comes from tenants' databases.
 */
export function openExecSocket(uri: string, protocols: string[], options: ClientOptions): WebSocket {
  // The `ws` client-node itself runs on (bundled with it in the compiled worker).
  const { WebSocket: WebSocketClass } = loadClientNode();
  return new WebSocketClass(uri, protocols, {
    ...options,
    perMessageDeflate: false,
    ...(uri.startsWith('wss:') ? { generateMask: zeroMask } : {}),
  });
}
