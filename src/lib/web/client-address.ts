/**
 * The client address rate limits count. Route handlers see no socket, so the production web server
 * (src/web-server.ts) writes it into a private request header, replacing any value a client sent: the connection's
 * address, or with `WEB_TRUST_PROXY` the last `X-Forwarded-For` entry (the one the proxy in front appended; entries
 * before it are whatever the client claimed).
 */

/** The private request header carrying the client address from our server to the routes. */
export const CLIENT_ADDRESS_HEADER = 'x-ops-client-address';

/** The address to count: the last X-Forwarded-For entry when one is given (trusted proxy), else the socket's. */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
  const forwarded = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .at(-1);
  return forwarded ?? socketAddress ?? 'unknown';
}

/** The client address of a request as our server recorded it; `unknown` when served otherwise (`next dev`, tests). */
export function requestClientAddress(request: Request): string {
  return request.headers.get(CLIENT_ADDRESS_HEADER) ?? 'unknown';
}
