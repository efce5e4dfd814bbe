import type { ChainReport } from '@codevector/console-api/audit/audit-contract';

/** Whether the chain was also checked against the signed checkpoints kept outside the database. */
function anchoring(report: ChainReport): string {
  if (report.checkpoints === undefined) return '';
  return report.checkpoints === null
    ? ' Not checked against signed checkpoints (none configured).'
    : ` ${report.checkpoints} signed checkpoints matched.`;
}

/** The outcome of recomputing the hash chain, announced as a status. */
export function ChainStatus(props: { report: ChainReport | null }) {
  const { report } = props;
  if (!report) return null;
  return (
    <p className={report.ok ? 'notice ok' : 'notice bad'} role="status">
      {report.ok
        ? `Chain intact: ${report.checked} sealed rows verified, ${report.pending} pending.${anchoring(report)}`
        : `Chain broken at seal #${report.firstBreak?.seq}: ${report.firstBreak?.message}`}
    </p>
  );
}
