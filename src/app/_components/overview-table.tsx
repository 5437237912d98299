'use client';
import type { OverviewRow } from '../../lib/web/index.ts';
import { StatusBadge } from './status-badge.tsx';

/**
 * The overview's deployment table, from rows whose words are written already (overview-rows.ts). A client component
 * so that the page sends each row as a small record rather than its elements; it renders the same HTML on the server.
 */
export function OverviewTable({ rows }: { rows: OverviewRow[] }) {
  return (
    <div className="table-scroll">
      <table>
        <thead>
          <tr>
            <th>Deployment</th>
            <th>Last backup</th>
            <th>Schedule</th>
            <th className="number">Stored</th>
            <th>Needs attention</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} data-deployment-id={row.id}>
              <td>
                <a href={`/deployments/${row.id}/backups`}>{row.name}</a>
                <div className="muted">{row.recipeSlug}</div>
              </td>
              <td className="nowrap">
                <StatusBadge status={row.status} />
                {row.lastBackupAgo ? <div className="muted">{row.lastBackupAgo}</div> : null}
              </td>
              <td>{row.schedule}</td>
              <td className="number">
                {row.storedBytes}
                <div className="muted">{`${row.storedBackups} backup${row.storedBackups === 1 ? '' : 's'}`}</div>
              </td>
              <td>
                {row.notes.length === 0 ? (
                  <span className="muted">—</span>
                ) : (
                  <ul className="notes">
                    {row.notes.map((note) => (
                      <li key={note} className={row.failing ? 'error-text' : ''}>
                        {note}
                      </li>
                    ))}
                  </ul>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
