/**
 * Whether the dashboard counts as served over https: then session cookies are `Secure` and responses carry HSTS. In
 * production that is always so, unless `WEB_ALLOW_PLAIN_HTTP` says plain http is meant (local use); elsewhere (tests,
 * `next dev`) it follows the request: https directly, or behind a proxy that says so in `X-Forwarded-Proto`.
 */

/** How the process decides: from NODE_ENV and the WEB_ALLOW_PLAIN_HTTP setting. */
export interface TransportSettings {
  production: boolean;
  allowPlainHttp: boolean;
}

/** True when cookies must be Secure and HSTS sent for this request (see the module comment). */
export function isSecureTransport(settings: TransportSettings, headers: Headers, url: string): boolean {
  if (settings.production && !settings.allowPlainHttp) return true;
  const forwarded = headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return forwarded === 'https' || new URL(url).protocol === 'https:';
}
