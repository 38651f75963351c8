// Server-Sent Events over fetch(): EventSource cannot send the Authorization header, so the
// stream is read from a ReadableStream and parsed here (the text/event-stream format: fields
// `id`, `event`, `data`, comments starting with ":", events ended by a blank line).

export class SSEParser {
  constructor() {
    this.buffer = "";
    this.fields = { data: [] };
  }

  /** Feed decoded text; returns the complete events: [{id, event, data}] (data: the raw text). */
  feed(text) {
    this.buffer += text;
    const events = [];
    let newline;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      if (this.buffer[newline] === "\r" && width === 1 && newline === this.buffer.length - 1) break; // maybe \r\n split
      this.buffer = this.buffer.slice(newline + width);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  line(line) {
    if (line === "") {
      const { id, event, data } = this.fields;
      this.fields = { data: [] };
      if (!data.length && !event) return null;
      return { id: id ?? null, event: event || "message", data: data.join("\n") };
    }
    if (line.startsWith(":")) return null; // a heartbeat comment
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") this.fields.data.push(value);
    else if (name === "event") this.fields.event = value;
    else if (name === "id" && !value.includes("\0")) this.fields.id = value;
    return null;
  }
}

/**
 * Read a fetch() Response body as SSE, calling onEvent({id, event, data}) for each event
 * (data parsed as JSON when it is). Resolves when the stream ends.
 */
export async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new SSEParser();
  for (;;) {
    const { value, done } = await reader.read();
    const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
    for (const raw of parser.feed(text)) {
      let data = raw.data;
      try {
        data = JSON.parse(raw.data);
      } catch {
        /* not JSON: passed on as text */
      }
      onEvent({ id: raw.id, event: raw.event, data });
    }
    if (done) return;
  }
}
