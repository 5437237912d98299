import { describe, expect, it } from 'vitest';
import { isCrossSiteCookieWrite, isCrossSiteSignIn } from '../../../src/lib/web/api-auth.ts';
import { sessionToken } from '../../../src/lib/web/auth.ts';

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

describe('isCrossSiteSignIn (login CSRF guard)', () => {
  const signIn = (headers: Record<string, string>) =>
    new Request('http://dash.example:3000/api/session', {
      method: 'POST',
      headers: { host: 'dash.example:3000', ...headers },
    });
  it.each([
    ['a form of this site', { origin: 'http://dash.example:3000' }, false],
    ['Sec-Fetch-Site same-origin', { 'sec-fetch-site': 'same-origin' }, false],
    ['a program (no Origin, no Sec-Fetch-Site)', {}, false],
    ['another site', { origin: 'https://evil.example' }, true],
    ['a sandboxed page (Origin: null)', { origin: 'null' }, true],
    ['a sibling subdomain', { 'sec-fetch-site': 'same-site' }, true],
    [
      'Sec-Fetch-Site cross-site with a forged-looking Origin',
      { 'sec-fetch-site': 'cross-site', origin: 'http://dash.example:3000' },
      true,
    ],
  ])('%s → %s', (_label, headers, expected) => {
    expect(isCrossSiteSignIn(signIn(headers))).toBe(expected);
  });
});

describe('sessionToken', () => {
  it.each([
    ['ops_session=abc', 'abc'],
    ['a=1; ops_session=a%2Fb', 'a/b'],
    ['ops_session=%zz', null],
    ['ops_session=%', null],
    ['other=1', null],
  ])('%s → %s', (cookie, expected) => {
    expect(sessionToken(new Headers({ cookie }))).toBe(expected);
  });
});
