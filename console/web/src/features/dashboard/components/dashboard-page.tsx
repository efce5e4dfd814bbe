import type { Dashboard } from '@codevector/console-api/insights/insight-contract';
import { useEffect, useState } from 'react';
import { getDashboard } from '../api/dashboard-api.ts';
import { LineChart } from './line-chart.tsx';

const usd = (n: number) => `$${n < 10 ? n.toFixed(2) : Math.round(n).toLocaleString()}`;
const count = (n: number) => Math.round(n).toLocaleString();

/** Spend and rejections per day over a chosen period. */
export function DashboardPage() {
  const [days, setDays] = useState(14);
  const [data, setData] = useState<Dashboard | null>(null);
  useEffect(() => {
    void getDashboard(days).then(setData);
  }, [days]);
  const dayList = Array.from({ length: days }, (_, i) => new Date(Date.now() - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));

  return (
    <section aria-labelledby="dashboard-title">
      <div className="page-head">
        <div>
          <h1 id="dashboard-title">Dashboard</h1>
          <p className="muted">Spend and gateway rejections per day (UTC).</p>
        </div>
        <label className="field">
          <span>Period</span>
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>Last 7 days</option>
            <option value={14}>Last 14 days</option>
            <option value={30}>Last 30 days</option>
            <option value={90}>Last 90 days</option>
          </select>
        </label>
      </div>
      {data && (
        <div className="chart-grid">
          <LineChart title="Spend by user" points={data.spendByUser} days={dayList} format={usd} />
          <LineChart title="Spend by group" points={data.spendByGroup} days={dayList} format={usd} />
          <LineChart title="Spend by model" points={data.spendByModel} days={dayList} format={usd} />
          <LineChart title="Rejections by reason" points={data.rejections} days={dayList} format={count} />
        </div>
      )}
    </section>
  );
}
