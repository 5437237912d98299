'use client';

/** Shown when a page could not load its data (database or cluster unreachable, a bug): words for a person, and a retry. */
export default function PageError({ error, retry }: { error: Error & { digest?: string }; retry: () => void }) {
  return (
    <div className="card">
      <h1>This page could not be loaded</h1>
      <p>
        The dashboard could not read its data just now. This is usually the database or the backup volume being
        unreachable; the server log has the details{error.digest ? ` (reference ${error.digest})` : ''}.
      </p>
      <p>
        <button type="button" className="primary" onClick={retry}>
          Try again
        </button>
      </p>
    </div>
  );
}
