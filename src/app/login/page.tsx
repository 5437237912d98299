import { safeNextPath } from '../../lib/web/index.ts';
import { LoginForm } from './login-form.tsx';

export const dynamic = 'force-dynamic';

interface PageProps {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}

/** Sign in with a workspace API token; the session cookie then opens the dashboard and sends you back where you were. */
export default async function LoginPage({ searchParams }: PageProps) {
  const { next, reason } = await searchParams;
  return (
    <div className="card login">
      <h1>Sign in</h1>
      <p className="muted">
        Paste an API token of your workspace. The dashboard keeps a session for this browser (the token itself is not
        stored in it).
      </p>
      <LoginForm
        returnTo={safeNextPath(typeof next === 'string' ? next : undefined)}
        initialProblem={
          reason === 'invalid'
            ? 'Your session has ended or your token is no longer accepted: sign in again.'
            : reason === 'scope'
              ? 'That token may not read this workspace’s backups (it lacks the read scope): sign in with another.'
              : null
        }
      />
    </div>
  );
}
