/** One bar: a value, its text ("1.2 MiB") and what it belongs to ("2026-03-01 03:00 UTC"). */
export interface TrendPoint {
  key: string;
  value: number;
  text: string;
  label: string;
}

const WIDTH = 300;
const HEIGHT = 72;
const GAP_RATIO = 0.25;
/** A bar never shrinks below this, so a tiny value still shows that a backup exists. */
const MIN_BAR_HEIGHT = 2;

/**
 * A small inline SVG bar chart of one measure over time, oldest on the left; each bar's tooltip names its backup
 * and value. No chart library: a row of rectangles scaled to the largest value.
 */
export function TrendBars({ title, points }: { title: string; points: TrendPoint[] }) {
  const latest = points.at(-1);
  const largest = Math.max(...points.map((point) => point.value), 0);
  const slot = WIDTH / Math.max(points.length, 1);
  const barWidth = slot * (1 - GAP_RATIO);
  const summary = latest
    ? `${title}: latest ${latest.text}, largest ${points.find((p) => p.value === largest)?.text ?? latest.text}`
    : `${title}: no data`;
  return (
    <figure className="chart">
      <figcaption>
        <span>{title}</span>
        <span>
          latest <strong>{latest?.text ?? '—'}</strong>
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={summary}>
        {points.map((point, index) => {
          const height =
            largest > 0 ? Math.max((point.value / largest) * (HEIGHT - 1), MIN_BAR_HEIGHT) : MIN_BAR_HEIGHT;
          return (
            <rect
              key={point.key}
              className="bar"
              x={index * slot + (slot - barWidth) / 2}
              y={HEIGHT - height}
              width={barWidth}
              height={height}
              rx={1.5}
            >
              <title>{`${point.label}: ${point.text}`}</title>
            </rect>
          );
        })}
        <line className="base" x1={0} x2={WIDTH} y1={HEIGHT - 0.5} y2={HEIGHT - 0.5} />
      </svg>
    </figure>
  );
}
