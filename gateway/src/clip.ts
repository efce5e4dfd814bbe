/** A client-supplied value cut to `max` characters (with an ellipsis) before it goes into an audit row, a log line or a message. */
export function clip(value: string, max = 200): string {
  if (value.length <= max) return value;
  return `${value.slice(0, max)}…`;
}
