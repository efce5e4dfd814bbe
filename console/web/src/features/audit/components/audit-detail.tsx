/**
 * Renders an audit row's detail. Mutations carry {before, after}: keys only in `after` are
 * added, only in `before` removed, in both with different values changed (old → new).
 * Anything else (gateway rejections) is shown as a table of facts.
 */
export function AuditDetail(props: { detail: unknown; action: string }) {
  const detail = props.detail;
  if (isObject(detail) && ('before' in detail || 'after' in detail)) {
    const rest = Object.fromEntries(Object.entries(detail).filter(([k]) => k !== 'before' && k !== 'after'));
    return (
      <div className="diff">
        <p className="diff-legend">
          <span className="diff-added">added</span> <span className="diff-removed">removed</span>{' '}
          <span className="diff-changed">changed</span>
        </p>
        <DiffTree before={detail['before'] ?? null} after={detail['after'] ?? null} />
        {Object.keys(rest).length > 0 && <Facts facts={rest} caption="Context" />}
      </div>
    );
  }
  if (isObject(detail)) return <Facts facts={detail} caption={props.action.startsWith('gateway.') ? 'Rejection facts' : 'Detail'} />;
  return <pre className="json">{JSON.stringify(detail, null, 2)}</pre>;
}

function DiffTree(props: { before: unknown; after: unknown }) {
  const before = isObject(props.before) ? props.before : null;
  const after = isObject(props.after) ? props.after : null;
  if (!before && !after) return <ValueChange before={props.before} after={props.after} />;
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
  return (
    <ul className="diff-tree">
      {keys.map((key) => {
        const inBefore = before !== null && Object.hasOwn(before, key);
        const inAfter = after !== null && Object.hasOwn(after, key);
        const b = before?.[key];
        const a = after?.[key];
        if (inAfter && !inBefore) {
          return (
            <li key={key} className="diff-added" data-change="added">
              <span className="diff-sign" aria-hidden="true">
                +
              </span>
              <span className="visually-hidden">added: </span>
              <span className="diff-key">{key}</span>: <Json value={a} />
            </li>
          );
        }
        if (inBefore && !inAfter) {
          return (
            <li key={key} className="diff-removed" data-change="removed">
              <span className="diff-sign" aria-hidden="true">
                −
              </span>
              <span className="visually-hidden">removed: </span>
              <span className="diff-key">{key}</span>: <Json value={b} />
            </li>
          );
        }
        if (isObject(b) && isObject(a)) {
          return (
            <li key={key}>
              <span className="diff-key">{key}</span>:
              <DiffTree before={b} after={a} />
            </li>
          );
        }
        return (
          <li key={key} className="diff-changed" data-change="changed">
            <span className="diff-sign" aria-hidden="true">
              ~
            </span>
            <span className="visually-hidden">changed: </span>
            <span className="diff-key">{key}</span>: <ValueChange before={b} after={a} />
          </li>
        );
      })}
    </ul>
  );
}

function ValueChange(props: { before: unknown; after: unknown }) {
  return (
    <span>
      <del className="diff-old">
        <Json value={props.before} />
      </del>{' '}
      <span aria-hidden="true">→</span>
      <span className="visually-hidden"> changed to </span>{' '}
      <ins className="diff-new">
        <Json value={props.after} />
      </ins>
    </span>
  );
}

function Facts(props: { facts: Record<string, unknown>; caption: string }) {
  return (
    <table className="facts">
      <caption>{props.caption}</caption>
      <tbody>
        {Object.entries(props.facts).map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>
              <Json value={v} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Json(props: { value: unknown }) {
  const text = JSON.stringify(props.value, null, isObject(props.value) || Array.isArray(props.value) ? 2 : undefined) ?? 'undefined';
  return text.includes('\n') ? <pre className="json inline">{text}</pre> : <code className="json">{text}</code>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
