import { describe, expect, it } from 'vitest';
import { isCrossSiteCookieWrite } from '../../../src/lib/web/api-auth.ts';

const URL_ = 'http://dash.example:3000/api/deployments/d1/backups';

function request(method: string, headers: Record<string, string>): Request {
  return new Request(URL_, { method, headers: { host: 'dash.example:3000', cookie: 'ops_session=x', ...headers } });
}

describe('isCrossSiteCookieWrite (CSRF guard for cookie-authenticated writes)', () => {
  it.each([
    ['a same-origin fetch', 'POST', { origin: 'http://dash.example:3000' }, false],
    ['Sec-Fetch-Site same-origin', 'POST', { 'sec-fetch-site': 'same-origin' }, false],
    ['a read', 'GET', { origin: 'https://evil.example' }, false],
    ['a bearer-token client', 'POST', { authorization: 'Bearer opsb_x', origin: 'https://evil.example' }, false],
    ['another site', 'POST', { origin: 'https://evil.example' }, true],
    ['Sec-Fetch-Site cross-site', 'POST', { 'sec-fetch-site': 'cross-site', origin: 'http://dash.example:3000' }, true],
    ['a cookie write without Origin', 'POST', {}, true],
    ['a malformed Origin', 'DELETE', { origin: 'not a url' }, true],
    ['the origin behind a proxy', 'POST', { origin: 'https://ops.example', 'x-forwarded-host': 'ops.example' }, false],
  ])('%s → %s', (_label, method, headers, expected) => {
    expect(isCrossSiteCookieWrite(request(method, headers))).toBe(expected);
  });
});
