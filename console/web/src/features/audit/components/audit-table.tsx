import type { AuditRecord } from '@codevector/core/audit-entry';
import { Fragment, useState } from 'react';
import { AuditDetail } from './audit-detail.tsx';

/** Audit rows, newest first, each with a toggle for its detail. `entries` null: still loading. */
export function AuditTable(props: { entries: AuditRecord[] | null; fresh: Set<number> }) {
  const [open, setOpen] = useState<Set<number>>(new Set());
  const toggle = (id: number) => {
    const next = new Set(open);
    if (!next.delete(id)) next.add(id);
    setOpen(next);
  };
  return (
    <div className="table-wrap">
      <table className="audit-table">
        <caption className="visually-hidden">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Actor</th>
            <th scope="col">Seal</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {props.entries === null && (
            <tr>
              <td colSpan={6} className="muted">
                Loading…
              </td>
            </tr>
          )}
          {props.entries?.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No audit events match these filters.
              </td>
            </tr>
          )}
          {props.entries?.map((entry) => (
            <AuditRow
              key={entry.id}
              entry={entry}
              fresh={props.fresh.has(entry.id)}
              open={open.has(entry.id)}
              onToggle={() => toggle(entry.id)}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AuditRow(props: { entry: AuditRecord; fresh: boolean; open: boolean; onToggle: () => void }) {
  const { entry } = props;
  const detailId = `detail-${entry.id}`;
  return (
    <Fragment>
      <tr className={props.fresh ? 'fresh' : undefined} data-audit-id={entry.id}>
        <td>
          <time dateTime={entry.at} title={entry.at}>
            {formatWhen(entry.at)}
          </time>
        </td>
        <td>
          <code className="action">{entry.action}</code>
        </td>
        <td>
          <span className="badge">{entry.targetType}</span> {entry.targetName ?? entry.targetId ?? ''}
        </td>
        <td>
          {entry.actor} <span className={`badge source-${entry.actorSource}`}>{entry.actorSource}</span>
          <OriginLine detail={entry.detail} />
        </td>
        <td>
          {entry.sealed === null ? (
            <span className="badge pending" title="Not yet sealed into the hash chain">
              pending
            </span>
          ) : (
            <span className="badge sealed" title={`Chain position ${entry.sealed}`}>
              #{entry.sealed}
            </span>
          )}
        </td>
        <td>
          <button type="button" className="button small" aria-expanded={props.open} aria-controls={detailId} onClick={props.onToggle}>
            {props.open ? 'Hide' : 'Show'} detail
            <span className="visually-hidden">
              {' '}
              for {entry.action} at {entry.at}
            </span>
          </button>
        </td>
      </tr>
      {props.open && (
        <tr className="detail-row" id={detailId}>
          <td colSpan={6}>
            <AuditDetail detail={entry.detail} action={entry.action} />
            {entry.requestId && <p className="muted small">Request {entry.requestId}</p>}
          </td>
        </tr>
      )}
    </Fragment>
  );
}

type Origin = { via: string; application?: string; repository?: string; revision?: string; path?: string; fieldManager?: string };
const toolNames: Record<string, string> = { argocd: 'Argo CD', flux: 'Flux', helm: 'Helm', kubectl: 'kubectl', api: 'API client' };

/** Where an admin change came from (a GitOps tool, repository and revision, or a client), when recorded. */
function OriginLine(props: { detail: unknown }) {
  const origin = (props.detail as { origin?: Origin } | null)?.origin;
  if (!origin || typeof origin.via !== 'string') return null;
  const revision = origin.revision ? (/^[0-9a-f]{40}$/.test(origin.revision) ? origin.revision.slice(0, 7) : origin.revision) : '';
  const title = [origin.repository, origin.path, origin.revision, origin.fieldManager].filter(Boolean).join(' · ');
  return (
    <div className="muted small origin" title={title || undefined}>
      via {toolNames[origin.via] ?? origin.via}
      {origin.application ? ` · ${origin.application}` : ''}
      {revision ? ` @ ${revision}` : ''}
    </div>
  );
}

function formatWhen(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
