import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ClientOptions, WebSocket } from 'ws';
import { nodeHttp as http, nodeHttps as https } from '../shared/index.ts';
import { loadClientNode } from './client-node.ts';
import { ExecStdoutTap } from './exec-stdout-tap.ts';

/** Fills a frame's masking key with zeros, which makes ws send the payload as it is (XOR with zero). */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

const taps = new WeakMap<WebSocket, ExecStdoutTap>();

/** The tap on an exec's connection (see {@link ExecStdoutTap}); absent when it runs through a proxy's agent. */
export function stdoutTapOf(socket: WebSocket): ExecStdoutTap | undefined {
  return taps.get(socket);
}

/**
 * Opens an exec's WebSocket as client-node would (`uri`, `protocols` and its TLS options: CA, client certificate or
 * token), with settings of ours:
 *
 * - `perMessageDeflate: false`: frames are never compressed (ws offers the extension by default; the API server does
 *   not take it, and a stdin frame queued behind a compressor would be held by reference after `send` returns, which
 *   the frame pool of `execWithInput` relies on not happening);
 * - over TLS (`wss:`), a zero masking key. A client masks every frame so that a proxy that reads the clear text of the
 *   connection cannot be fooled by bytes a web page chose (RFC 6455, 10.3); over TLS no proxy reads it, and masking
 *   with a random key copied every stdin byte once more into a new buffer (about 0.7 s of CPU per GiB restored here, with
 *   the garbage collections it caused). The frames still carry the mask bit, so any server reads them as before. Over a
 *   plain `ws:` connection the key stays random: what a restore sends comes from tenants' databases.
 * - the connection is made here, as ws would make it (`tls.connect` or `net.connect` with the same options), with an
 *   {@link ExecStdoutTap} between it and ws, which hands stdout to the exec's reader without copying it. client-node
 *   passes its own `https.Agent` (made from those same options) only to cache TLS connections, and an upgraded
 *   connection is never reused, so it is left out. A proxy's agent (a kubeconfig's `proxy-url`) is kept, and then there
 *   is no tap: stdout comes through ws and client-node.
 */
export function openExecSocket(uri: string, protocols: string[], options: ClientOptions): WebSocket {
  // The `ws` client-node itself runs on (bundled with it in the compiled worker).
  const { WebSocket: WebSocketClass } = loadClientNode();
  const secure = uri.startsWith('wss:');
  let tap: ExecStdoutTap | undefined;
  const direct = options.agent === undefined || isPlainAgent(options.agent);
  const socket = new WebSocketClass(uri, protocols, {
    ...options,
    perMessageDeflate: false,
    ...(secure ? { generateMask: zeroMask } : {}),
    ...(direct
      ? {
          agent: undefined,
          // ws types it as net's; it only needs a Duplex, which is what the HTTP client takes too.
          createConnection: ((connectOptions: tls.ConnectionOptions & net.NetConnectOpts) =>
            (tap = new ExecStdoutTap(connect(secure, connectOptions)))) as unknown as typeof net.createConnection,
        }
      : {}),
  });
  if (tap) taps.set(socket, tap);
  return socket;
}

/** Node's own agent, which only pools connections (a proxy's agent is a subclass that tunnels them). */
function isPlainAgent(agent: unknown): boolean {
  const prototype = Object.getPrototypeOf(agent) as unknown;
  return prototype === https.Agent.prototype || prototype === http.Agent.prototype;
}

/** As ws connects (its `tlsConnect` / `netConnect`): no path; over TLS, the host's name for SNI unless it is an IP. */
function connect(secure: boolean, options: tls.ConnectionOptions & net.NetConnectOpts): Duplex {
  if (!secure)
    return net.connect({ ...options, path: (options as { socketPath?: string }).socketPath } as net.NetConnectOpts);
  const servername =
    options.servername || options.servername === ''
      ? options.servername
      : net.isIP(options.host ?? '')
        ? ''
        : options.host;
  return tls.connect({ ...options, path: undefined, servername } as tls.ConnectionOptions);
}
