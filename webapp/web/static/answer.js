// One answer on the page: the stored one of the history, or the live one being streamed. A live
// answer remembers where it is (the last event id, the text, the images) in sessionStorage, so a
// reload re-attaches to the run with Last-Event-ID and goes on from there: nothing is asked twice.

import { h, replace } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { T } from "./strings.js";
import { image, showBlock, showImage } from "./viewer.js";

const RUN_KEY = "azd.run";
const RETRIES = 5;

export function savedRun() {
  try {
    return JSON.parse(sessionStorage.getItem(RUN_KEY) || "null");
  } catch {
    return null;
  }
}

export function forgetRun() {
  sessionStorage.removeItem(RUN_KEY);
}

function kindName(kind) {
  return T.imageKinds[kind] || kind || "";
}

/**
 * The view of an answer: text (Markdown with citation links), thumbnails, citations.
 * `api` loads cited blocks; `documents` are the ids the question was asked about (to find a
 * block cited before the final citations arrive).
 */
export class AnswerView {
  constructor(api, { text = "", images = [], citations = [], documents = [] } = {}) {
    this.api = api;
    this.text = text;
    this.images = images;
    this.citations = citations;
    this.documents = documents;
    this.progress = h("p", { class: "progress", role: "status", "aria-live": "polite" });
    this.body = h("div", { class: "markdown answer-text" });
    this.thumbs = h("div", { class: "thumbs", role: "list", "aria-label": T.images });
    this.sources = h("div", { class: "sources" });
    this.problem = h("div", { class: "problem" });
    this.el = h("article", { class: "message assistant", "aria-label": T.assistant },
      h("header", { class: "message-head", text: T.assistant }), this.progress, this.body, this.thumbs, this.sources, this.problem);
    this.renderText();
    for (const item of images) this.addThumb(item);
    this.renderSources();
  }

  renderText() {
    replace(this.body, renderMarkdown(this.text, { citation: (id) => this.citationLink(id) }));
  }

  citationLink(id) {
    return h("button", { type: "button", class: "cite", title: T.openCitation(id), dataset: { block: id }, onClick: (e) => this.openCitation(id, e.currentTarget) }, `[#${id}]`);
  }

  citation(id) {
    const key = id.toUpperCase();
    return this.citations.find((c) => String(c.block_id).toUpperCase() === key) || null;
  }

  openCitation(id, opener) {
    const citation = this.citation(id);
    const candidates = citation && citation.document_id ? [citation.document_id] : this.documents;
    const load = candidates.length
      ? async () => {
          let lastError = null;
          for (const doc of candidates) {
            try {
              return await this.api.get(`/projects/documents/${encodeURIComponent(doc)}/blocks/${encodeURIComponent(id)}`);
            } catch (error) {
              lastError = error;
            }
          }
          throw lastError;
        }
      : null;
    const withImages = citation || { images: this.images.filter((i) => i.block_id === id).map((i) => i.url) };
    showBlock(id, load, withImages, (url, button) => this.openUrl(url, button), opener);
  }

  openUrl(url, opener) {
    const item = this.images.find((i) => i.url === url) || { url, kind: "", block_id: "" };
    this.openImage(item, opener);
  }

  openImage(item, opener) {
    const overview = this.images.find((i) => i.block_id === item.block_id && i.kind === "overview") || null;
    showImage(item, overview, opener);
  }

  addThumb(item) {
    const label = T.openImage(kindName(item.kind), item.block_id || "");
    const button = h("button", { type: "button", class: `thumb kind-${item.kind || "other"}`, title: label, dataset: { kind: item.kind || "", block: item.block_id || "" }, onClick: (e) => this.openImage(item, e.currentTarget) },
      image(item.url, "", "thumb-image"), h("span", { class: "thumb-caption", text: `${kindName(item.kind)} · ${item.block_id || ""}` }));
    this.thumbs.append(h("div", { role: "listitem" }, button));
  }

  renderSources() {
    if (!this.citations.length) {
      replace(this.sources);
      return;
    }
    const where = (c) => [
      c.page_number ? `${T.page.toLowerCase()} ${c.page_number}` : "",
      c.sheet ? `${T.sheet.toLowerCase()} ${c.sheet}` : "",
    ].filter(Boolean).join(", ");
    const items = this.citations.map((c) =>
      h("li", {}, this.citationLink(c.block_id), h("span", { class: "muted", text: where(c) })));
    replace(this.sources, h("h3", { class: "sources-title", text: T.citations }), h("ul", {}, items));
  }

  setProgress(text, kind = "") {
    this.progress.textContent = text;
    this.progress.className = `progress ${kind}`;
  }
}

/**
 * A live answer: follows GET /chats/{id}/stream, updating its view, saving its place after every
 * event. `onDone(ok)` is called once the run ends (completed, or error).
 */
export class LiveAnswer extends AnswerView {
  constructor(api, chatId, query, saved, onDone) {
    super(api, { text: saved?.text || "", images: saved?.images || [], documents: saved?.documents || [] });
    this.chatId = chatId;
    this.query = query;
    this.lastId = saved?.lastId || null;
    this.onDone = onDone;
    this.finished = false;
    this.pending = false;
    this.el.classList.add("live");
    this.el.setAttribute("aria-busy", "true");
    this.setProgress(saved ? T.reattaching : T.started);
  }

  save() {
    sessionStorage.setItem(RUN_KEY, JSON.stringify({
      chatId: this.chatId, query: this.query, lastId: this.lastId, text: this.text,
      images: this.images, documents: this.documents,
    }));
  }

  async run(rerun = false) {
    const query = new URLSearchParams(this.query);
    if (rerun) query.set("rerun", "1");
    this.save();
    this.aborter = new AbortController();
    for (let attempt = 0; !this.finished && attempt <= RETRIES; attempt += 1) {
      try {
        await this.api.stream(this.chatId, query, this.lastId, (e) => this.handle(e), this.aborter.signal);
        if (this.finished || this.detached) return;
        query.delete("rerun"); // re-attach to the run now going, never start another
      } catch (error) {
        if (this.detached) return;
        if (error.status === 409) { // resumed past the end: follow the answer from its start
          this.lastId = null;
          continue;
        }
        if (error.status) return this.fail(error.message, error.code);
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
    }
    if (!this.finished) this.fail(T.streamLost, "stream_lost");
  }

  /** Stop following (another chat is opened); the run goes on and its place stays saved, so
   * opening this chat again re-attaches. */
  detach() {
    this.detached = true;
    this.aborter?.abort();
  }

  handle({ id, event, data }) {
    if (this.detached) return;
    if (id) this.lastId = id;
    switch (event) {
      case "queue_position":
        this.setProgress(T.queued(data.position, data.estimated_wait_seconds));
        break;
      case "processing_started":
        this.setProgress(T.started);
        break;
      case "phase_started":
        this.setProgress(data.description || data.phase);
        break;
      case "phase_progress":
        if (data.message) this.setProgress(data.message);
        break;
      case "llm_thinking":
        this.setProgress(T.thinking);
        break;
      case "tool_call":
        this.setProgress(T.tool[data.tool] || T.toolOther(data.tool));
        break;
      case "image_ready":
        if (!this.images.some((i) => i.url === data.url)) {
          this.images.push(data);
          this.addThumb(data);
        }
        break;
      case "llm_token":
        this.text = typeof data.accumulated === "string" ? data.accumulated : this.text + (data.token || "");
        this.setProgress(T.writing);
        this.scheduleRender();
        break;
      case "llm_final":
        this.text = data.content || this.text;
        this.citations = Array.isArray(data.citations) ? data.citations : [];
        this.renderText();
        this.renderSources();
        break;
      case "completed":
        this.finish(true);
        this.setProgress(T.done, "ok");
        break;
      case "error":
        this.fail(data.message, data.code);
        break;
      default:
        break;
    }
    if (!this.finished) this.save();
  }

  scheduleRender() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.renderText();
    });
  }

  finish(ok) {
    if (this.finished) return;
    this.finished = true;
    forgetRun();
    this.renderText();
    this.el.classList.remove("live");
    this.el.setAttribute("aria-busy", "false");
    this.el.dataset.state = ok ? "completed" : "error";
    this.onDone(ok);
  }

  fail(message, code) {
    this.setProgress(T.failed, "error");
    replace(this.problem, h("div", { class: "error", role: "alert" },
      h("p", { text: message || T.failed }),
      code ? h("p", { class: "muted", text: T.errorCode(code) }) : null,
      h("button", { type: "button", class: "retry", onClick: () => this.retry() }, T.askAgain)));
    this.finish(false);
  }

  retry() {
    replace(this.problem);
    this.finished = false;
    this.detached = false;
    this.lastId = null;
    this.text = "";
    this.images = [];
    this.citations = [];
    replace(this.thumbs);
    this.renderText();
    this.renderSources();
    this.el.classList.add("live");
    this.el.setAttribute("aria-busy", "true");
    delete this.el.dataset.state;
    this.setProgress(T.started);
    this.onRetry?.();
    this.run(true);
  }
}
