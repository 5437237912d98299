import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../../src/lib/web/client-address.ts';
import { generateNonce, securityHeaders } from '../../../src/lib/web/security-headers.ts';
import { isSecureTransport } from '../../../src/lib/web/transport-security.ts';

describe('securityHeaders', () => {
  it('forbid framing and sniffing, keep referrers home, allow only nonced inline scripts', () => {
    const headers = securityHeaders({ nonce: 'abc123', secure: false });
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['content-security-policy']).toContain("script-src 'self' 'nonce-abc123'");
    expect(headers['content-security-policy']).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['referrer-policy']).toBe('same-origin');
    expect(headers['strict-transport-security']).toBeUndefined();
  });

  it('add HSTS over https', () => {
    expect(securityHeaders({ nonce: 'n', secure: true })['strict-transport-security']).toBe(
      'max-age=31536000; includeSubDomains',
    );
  });

  it('nonces differ and match what Next.js accepts', () => {
    const nonces = new Set(Array.from({ length: 20 }, generateNonce));
    expect(nonces.size).toBe(20);
    for (const nonce of nonces) expect(nonce).toMatch(/^[A-Za-z0-9+/_-]+={0,2}$/);
  });
});

describe('isSecureTransport', () => {
  const plain = new Headers();
  const proxied = new Headers({ 'x-forwarded-proto': 'https' });
  it.each([
    ['production', { production: true, allowPlainHttp: false }, plain, 'http://a/', true],
    ['production with WEB_ALLOW_PLAIN_HTTP', { production: true, allowPlainHttp: true }, plain, 'http://a/', false],
    [
      'production with WEB_ALLOW_PLAIN_HTTP behind https',
      { production: true, allowPlainHttp: true },
      proxied,
      'http://a/',
      true,
    ],
    ['development over http', { production: false, allowPlainHttp: false }, plain, 'http://a/', false],
    ['development over https', { production: false, allowPlainHttp: false }, plain, 'https://a/', true],
  ])('%s → %s', (_label, settings, headers, url, expected) => {
    expect(isSecureTransport(settings, headers, url)).toBe(expected);
  });
});

describe('clientAddress', () => {
  it.each([
    ['the socket', '10.0.0.7', undefined, '10.0.0.7'],
    ['the entry the proxy appended, not what the client claimed', '10.0.0.1', '1.2.3.4, 203.0.113.9', '203.0.113.9'],
    ['repeated headers', '10.0.0.1', ['1.2.3.4', '203.0.113.9'], '203.0.113.9'],
    ['nothing known', undefined, undefined, 'unknown'],
  ])('%s', (_label, socket, forwarded, expected) => {
    expect(clientAddress(socket, forwarded)).toBe(expected);
  });
});
