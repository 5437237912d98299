/**
 * The security headers of every response of the production web server (src/web-server.ts): a Content-Security-Policy
 * whose scripts are this site's files and the inline scripts Next.js marks with the request's nonce, no framing
 * (`frame-ancestors 'none'`: no clickjacking), no MIME sniffing, no referrer sent to other sites, and HSTS when the
 * dashboard is served over https (see `transportSecurity`).
 */
import { randomBytes } from 'node:crypto';

/** How long browsers remember to use https only (HSTS), in seconds: one year. */
export const HSTS_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;

/** A fresh nonce for one response's inline scripts. */
export function generateNonce(): string {
  return randomBytes(18).toString('base64');
}

/**
 * The Content-Security-Policy with `nonce`. Next.js reads the nonce from the request's own
 * `content-security-policy` header and puts it on the inline scripts it renders, so the server sets the same value on
 * the request before Next sees it.
 */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Every response's security headers; `secure`: the dashboard is served over https (adds HSTS). */
export function securityHeaders(options: { nonce: string; secure: boolean }): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(options.nonce),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
    ...(options.secure ? { 'strict-transport-security': `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains` } : {}),
  };
}
