/**
 * For an OpenAI chat stream whose usage the gateway asked for: drops the final usage chunk and
 * the `"usage":null` the API adds to every other chunk, so the client receives exactly the
 * stream it asked for. Works on whole SSE events; `seen` is what arrived, for the usage tap.
 */
export function createUsageStripper() {
  let pending = '';
  return {
    push(text: string): { forward: string; seen: string } {
      const data = pending + text;
      const lastBreak = data.lastIndexOf('\n\n');
      if (lastBreak < 0) {
        pending = data;
        return { forward: '', seen: '' };
      }
      pending = data.slice(lastBreak + 2);
      const events = data.slice(0, lastBreak + 2);
      let forward = '';
      for (const event of events.split('\n\n')) {
        if (!event) continue;
        if (event.includes('"usage":{') && event.includes('"choices":[]')) continue;
        forward += `${event.replaceAll(',"usage":null', '')}\n\n`;
      }
      return { forward, seen: events };
    },
    flush(): string {
      const rest = pending;
      pending = '';
      return rest;
    },
  };
}
