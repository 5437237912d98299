/** 404: a missing page, or something that belongs to another workspace (the two are not told apart). */
export default function NotFound() {
  return (
    <div className="card">
      <h1>Not found</h1>
      <p>
        There is nothing here, or it belongs to a workspace your token does not open. Check the address, or go back to
        the <a href="/backups">backups overview</a>.
      </p>
    </div>
  );
}
