import type { SeriesPoint } from '@codevector/console-api/insights/insight-contract';

const palette = ['#4f46e5', '#0891b2', '#d97706', '#dc2626', '#059669', '#7c3aed', '#db2777', '#65a30d'];

/** A hand-drawn SVG chart: one line per series over days, with a legend and a data table for screen readers. */
export function LineChart(props: { title: string; points: SeriesPoint[]; days: string[]; format: (n: number) => string }) {
  const width = 560;
  const height = 200;
  const pad = { left: 56, right: 12, top: 12, bottom: 28 };
  const keys = [...new Set(props.points.map((p) => p.key))].slice(0, palette.length);
  const max = Math.max(1e-9, ...props.points.map((p) => p.value));
  const x = (i: number) => pad.left + (props.days.length <= 1 ? 0 : (i / (props.days.length - 1)) * (width - pad.left - pad.right));
  const y = (v: number) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  const pointValue = (key: string, day: string) => props.points.find((p) => p.key === key && p.day === day)?.value ?? 0;
  const titleId = `chart-${props.title.replace(/\W+/g, '-').toLowerCase()}`;

  return (
    <figure className="card chart" aria-labelledby={titleId}>
      <figcaption id={titleId}>{props.title}</figcaption>
      {keys.length === 0 ? (
        <p className="muted">No data in this period.</p>
      ) : (
        <>
          <svg
            viewBox={`0 0 ${width} ${height}`}
            role="img"
            aria-label={`${props.title}, ${keys.length} series over ${props.days.length} days`}
          >
            {[0, 0.5, 1].map((f) => (
              <g key={f}>
                <line x1={pad.left} x2={width - pad.right} y1={y(max * f)} y2={y(max * f)} className="grid" />
                <text x={pad.left - 6} y={y(max * f) + 4} textAnchor="end" className="axis">
                  {props.format(max * f)}
                </text>
              </g>
            ))}
            {props.days.map((d, i) =>
              i % Math.ceil(props.days.length / 7) === 0 ? (
                <text key={d} x={x(i)} y={height - 8} textAnchor="middle" className="axis">
                  {d.slice(5)}
                </text>
              ) : null,
            )}
            {keys.map((key, k) => (
              <polyline
                key={key}
                fill="none"
                stroke={palette[k]}
                strokeWidth={2}
                points={props.days.map((d, i) => `${x(i)},${y(pointValue(key, d))}`).join(' ')}
              />
            ))}
          </svg>
          <ul className="legend">
            {keys.map((key, k) => (
              <li key={key}>
                <span className="swatch" style={{ background: palette[k] }} aria-hidden="true" /> {key}
              </li>
            ))}
          </ul>
          <details>
            <summary>Data table</summary>
            <table>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  {keys.map((k) => (
                    <th key={k} scope="col">
                      {k}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {props.days.map((d) => (
                  <tr key={d}>
                    <th scope="row">{d}</th>
                    {keys.map((k) => (
                      <td key={k}>{props.format(pointValue(k, d))}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </figure>
  );
}
