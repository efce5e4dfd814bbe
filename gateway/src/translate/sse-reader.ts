/** One server-sent event: its `event:` name (empty when absent) and its `data:` lines joined. */
export type SseEvent = { event: string; data: string };

/**
 * Splits an SSE byte stream (as text, in whatever pieces it arrives) into whole events. The
 * translators read the upstream's events and write the client's: unlike the passthrough path,
 * they must see each event whole. Unfinished input is kept as pieces and joined once (as the
 * usage tap does), so a long event is not re-copied on every chunk.
 */
export function createSseReader() {
  let parts: string[] = [];
  let event = '';
  let data: string[] = [];
  const line = (text: string, out: SseEvent[]) => {
    const clean = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (clean === '') {
      if (data.length > 0) out.push({ event, data: data.join('\n') });
      event = '';
      data = [];
      return;
    }
    if (clean.startsWith(':')) return;
    const colon = clean.indexOf(':');
    const field = colon < 0 ? clean : clean.slice(0, colon);
    let value = colon < 0 ? '' : clean.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  };
  return {
    push(text: string): SseEvent[] {
      const out: SseEvent[] = [];
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const piece = text.slice(start, nl);
        const whole = parts.length === 0 ? piece : parts.join('') + piece;
        parts = [];
        line(whole, out);
        start = nl + 1;
      }
      if (start < text.length) parts.push(start === 0 ? text : text.slice(start));
      return out;
    },
    /** Whatever event the stream ended in without its blank line. */
    end(): SseEvent[] {
      const out: SseEvent[] = [];
      if (parts.length > 0) line(parts.join(''), out);
      parts = [];
      line('', out);
      return out;
    },
  };
}

/** Parses an SSE data line as a JSON object, or null (`[DONE]`, garbage). */
export function parseEventData(data: string): Record<string, unknown> | null {
  if (!data.startsWith('{')) return null;
  try {
    const value = JSON.parse(data) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
