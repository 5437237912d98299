import { type BackupRecordJson, formatDuration, formatInstant } from '../../lib/web/index.ts';
import { formatBytes } from '../../lib/shared/index.ts';
import { TrendBars, type TrendPoint } from './trend-bars.tsx';

/** Size and duration of the successful backups in view, oldest first: a change in either is worth a look. */
export function BackupTrends({ items }: { items: BackupRecordJson[] }) {
  const succeeded = items.filter((item) => item.status === 'SUCCEEDED').reverse();
  if (succeeded.length === 0) return null;
  const point = (item: BackupRecordJson, value: number, text: string): TrendPoint => ({
    key: item.id,
    value,
    text,
    label: formatInstant(item.startedAt),
  });
  return (
    <section className="card charts" aria-label="Backup size and duration over time">
      <TrendBars
        title="Size"
        points={succeeded.map((item) =>
          point(item, Number(item.sizeBytes ?? 0), formatBytes(BigInt(item.sizeBytes ?? 0))),
        )}
      />
      <TrendBars
        title="Duration"
        points={succeeded.map((item) => point(item, item.durationMs ?? 0, formatDuration(item.durationMs)))}
      />
    </section>
  );
}
