/**
 * A reader of `text/event-stream` bodies (the HTML standard's server-sent events): `event:` and
 * `data:` fields, comment lines (the API's heartbeats) skipped, an event dispatched at each
 * blank line. Lines end in LF or CRLF, which is what the API writes; `id:` and `retry:` are not
 * used by it and are ignored.
 */
export interface SseEvent {
  event: string;
  data: string;
}

export async function* readEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const pending = { event: '', data: [] as string[] };
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      const ev = feed(pending, line);
      if (ev) yield ev;
    }
  }
}

/** One line into the event being built; returns the event when the line completes it. */
function feed(pending: { event: string; data: string[] }, line: string): SseEvent | undefined {
  if (line === '') {
    const done = pending.data.length > 0 ? { event: pending.event || 'message', data: pending.data.join('\n') } : undefined;
    pending.event = '';
    pending.data = [];
    return done;
  }
  if (line.startsWith(':')) return undefined;
  const colon = line.indexOf(':');
  const field = colon < 0 ? line : line.slice(0, colon);
  const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
  if (field === 'event') pending.event = value;
  else if (field === 'data') pending.data.push(value);
  return undefined;
}
