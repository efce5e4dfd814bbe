import type { ChainReport } from '@codevector/console-api/audit/audit-contract';

/** The outcome of recomputing the hash chain, announced as a status. */
export function ChainStatus(props: { report: ChainReport | null }) {
  const { report } = props;
  if (!report) return null;
  return (
    <p className={report.ok ? 'notice ok' : 'notice bad'} role="status">
      {report.ok
        ? `Chain intact: ${report.checked} sealed rows verified, ${report.pending} pending.`
        : `Chain broken at seal #${report.firstBreak?.seq}: ${report.firstBreak?.message}`}
    </p>
  );
}
