'use client';

import { useState } from 'react';

/** Ends the dashboard session (DELETE /api/session clears the cookie) and goes to the login page. */
export function SignOutButton() {
  const [busy, setBusy] = useState(false);
  async function signOut() {
    setBusy(true);
    await fetch('/api/session', { method: 'DELETE' }).catch(() => undefined);
    window.location.assign('/login');
  }
  return (
    <button type="button" onClick={() => void signOut()} disabled={busy}>
      Sign out
    </button>
  );
}
