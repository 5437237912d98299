'use client';

import { useState, type FormEvent } from 'react';
import { readErrorMessage } from '../_components/read-error-message.ts';

/**
 * Posts the token to `/api/session` (which sets the httpOnly session cookie), then loads `returnTo`. Without
 * JavaScript the form posts to the same endpoint directly.
 */
export function LoginForm({ returnTo, initialProblem }: { returnTo: string; initialProblem: string | null }) {
  const [problem, setProblem] = useState(initialProblem);
  const [busy, setBusy] = useState(false);

  async function signIn(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const token = String(new FormData(event.currentTarget).get('token') ?? '').trim();
    if (!token) {
      setProblem('Paste your API token first.');
      return;
    }
    setBusy(true);
    try {
      const response = await fetch('/api/session', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      if (response.ok) {
        // A full load, so that every server-rendered part sees the new cookie.
        window.location.assign(returnTo);
        return;
      }
      setProblem(
        response.status === 401 || response.status === 403
          ? 'That token was not accepted. Check that you copied all of it and that it has not been revoked.'
          : `Signing in failed: ${await readErrorMessage(response)}.`,
      );
    } catch {
      setProblem('The dashboard cannot reach the server. Check your connection and try again.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <form method="post" action="/api/session" onSubmit={(event) => void signIn(event)}>
      <label htmlFor="token">API token</label>
      <input
        id="token"
        name="token"
        type="password"
        autoComplete="off"
        spellCheck={false}
        placeholder="opsb_…"
        required
      />
      <input type="hidden" name="next" value={returnTo} />
      {problem ? (
        <p className="notice bad" role="alert">
          {problem}
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
