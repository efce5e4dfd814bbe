/**
 * For an OpenAI chat stream whose usage the gateway asked for: drops the final usage chunk and
 * the `"usage":null` the API adds to every other chunk, so the client receives exactly the
 * stream it asked for. Works on whole SSE events; `seen` is what arrived, for the usage tap.
 */
export function createUsageStripper() {
  // The unfinished event is kept as pieces and joined once its blank line arrives; joining on
  // every chunk re-copied it each time (a 10 MB SSE line cost ~170 MB of RSS, fault suite).
  let parts: string[] = [];
  let pendingEndsWithNewline = false;
  return {
    push(text: string): { forward: string; seen: string } {
      const lastBreak = text.lastIndexOf('\n\n');
      const breakEnd = lastBreak >= 0 ? lastBreak + 2 : pendingEndsWithNewline && text.startsWith('\n') ? 1 : -1;
      if (breakEnd < 0) {
        if (text.length > 0) {
          parts.push(text);
          pendingEndsWithNewline = text.endsWith('\n');
        }
        return { forward: '', seen: '' };
      }
      const events = parts.length === 0 ? text.slice(0, breakEnd) : parts.join('') + text.slice(0, breakEnd);
      parts = breakEnd < text.length ? [text.slice(breakEnd)] : [];
      pendingEndsWithNewline = breakEnd < text.length && text.endsWith('\n');
      let forward = '';
      for (const event of events.split('\n\n')) {
        if (!event) continue;
        if (event.includes('"usage":{') && event.includes('"choices":[]')) continue;
        forward += `${event.replaceAll(',"usage":null', '')}\n\n`;
      }
      return { forward, seen: events };
    },
    flush(): string {
      const rest = parts.join('');
      parts = [];
      pendingEndsWithNewline = false;
      return rest;
    },
  };
}
