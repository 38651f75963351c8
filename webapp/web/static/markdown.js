// A small Markdown renderer that is safe by construction: it never parses HTML. The text is cut
// into blocks and inline spans, and each piece becomes a DOM node built with createElement and
// text nodes, so `<script>`, `onerror=` or any other markup in a message or a block is shown as
// the characters it is. Links are kept only for http(s) URLs. Supported: paragraphs, headings,
// lists (nested by indentation), block quotes, fenced code, tables, rules, **bold**, *italic*,
// `code`, [links](https://…), bare https:// links and block citations [#BLOCK-ID].

import { h, safeUrl } from "./dom.js";

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

// One alternation, tried left to right at each position: code, citation, link, bold, italic, URL.
const INLINE = new RegExp(
  [
    "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)", // 1,2 code span
    "\\[#([^\\]\\s]{1,100})\\]", // 3 citation [#ID]
    "\\[([^\\]\\n]{1,500})\\]\\(\\s*([^)\\s]{1,2000})\\s*\\)", // 4,5 link
    "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 6 bold
    "(?<![\\p{L}\\p{N}_])__(?=\\S)([\\s\\S]*?\\S)__(?![\\p{L}\\p{N}_])", // 7 bold
    "\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*", // 8 italic
    "(?<![\\p{L}\\p{N}_])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![\\p{L}\\p{N}_])", // 9 italic
    "(https?:\\/\\/[^\\s<>\\[\\]()]*[^\\s<>\\[\\]().,;:!?'\"«»])", // 10 bare URL
  ].join("|"),
  "gu",
);

/**
 * Render `text` into a DocumentFragment.
 * options.citation(id) -> Node: the node for a [#ID] reference (default: the text itself).
 */
export function renderMarkdown(text, options = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  for (const node of blocks(lines, options)) fragment.append(node);
  return fragment;
}

/** Inline spans of one piece of text, as nodes. */
export function inline(text, options = {}) {
  const out = [];
  let last = 0;
  INLINE.lastIndex = 0;
  for (const m of String(text).matchAll(INLINE)) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    last = m.index + m[0].length;
    if (m[1] !== undefined) {
      out.push(h("code", { text: m[2].trim() === "" ? m[2] : m[2].replace(/^ (.*) $/, "$1") }));
    } else if (m[3] !== undefined) {
      out.push(options.citation ? options.citation(m[3]) : document.createTextNode(m[0]));
    } else if (m[4] !== undefined) {
      out.push(link(m[5], inline(m[4], options), m[0]));
    } else if (m[6] !== undefined || m[7] !== undefined) {
      out.push(h("strong", {}, inline(m[6] ?? m[7], options)));
    } else if (m[8] !== undefined || m[9] !== undefined) {
      out.push(h("em", {}, inline(m[8] ?? m[9], options)));
    } else if (m[10] !== undefined) {
      out.push(link(m[10], [m[10]], m[10]));
    }
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function link(target, children, original) {
  const href = /^https?:\/\//i.test(target) ? safeUrl(target) : null;
  if (!href) return document.createTextNode(original); // javascript:, data:, relative: inert text
  return h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, children);
}

function isBlank(line) {
  return line.trim() === "";
}

function startsBlock(line, next) {
  return (
    FENCE.test(line) ||
    HEADING.test(line) ||
    RULE.test(line) ||
    QUOTE.test(line) ||
    ITEM.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_SEPARATOR.test(next))
  );
}

function blocks(lines, options) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) {
      i += 1;
      continue;
    }
    let m;
    if (FENCE.test(line)) {
      const fence = line.trim().slice(0, 3);
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i += 1; // the closing fence (or the end)
      out.push(h("pre", {}, h("code", { text: body.join("\n") })));
    } else if ((m = HEADING.exec(line))) {
      out.push(h(`h${Math.min(6, m[1].length + 2)}`, { class: "md-h" }, inline(m[2], options)));
      i += 1;
    } else if (RULE.test(line)) {
      out.push(h("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        body.push(m[1]);
        i += 1;
      }
      out.push(h("blockquote", {}, blocks(body, options)));
    } else if (ITEM.test(line)) {
      i = list(lines, i, out, options);
    } else if (line.includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      i = table(lines, i, out, options);
    } else {
      const body = [];
      while (i < lines.length && !isBlank(lines[i]) && (body.length === 0 || !startsBlock(lines[i], lines[i + 1]))) {
        body.push(lines[i].trim());
        i += 1;
      }
      const p = h("p");
      body.forEach((text, n) => {
        if (n) p.append(h("br"));
        p.append(...inline(text, options));
      });
      out.push(p);
    }
  }
  return out;
}

function list(lines, start, out, options) {
  const first = ITEM.exec(lines[start]);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const el = h(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) el.setAttribute("start", String(parseInt(first[2], 10)));
  let i = start;
  while (i < lines.length) {
    const m = ITEM.exec(lines[i]);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const body = [m[3]];
    i += 1;
    // the item goes on while lines are indented past its marker (or blank before such a line)
    while (i < lines.length) {
      const line = lines[i];
      const deeper = line.length - line.trimStart().length > indent;
      if (!isBlank(line) && deeper) {
        body.push(line.slice(Math.min(indent + 2, line.length - line.trimStart().length)));
        i += 1;
      } else if (isBlank(line) && i + 1 < lines.length && !isBlank(lines[i + 1]) &&
                 lines[i + 1].length - lines[i + 1].trimStart().length > indent) {
        body.push("");
        i += 1;
      } else {
        break;
      }
    }
    const li = h("li");
    if (body.length === 1) li.append(...inline(body[0], options));
    else li.append(...blocks(body, options));
    el.append(li);
    if (i < lines.length && isBlank(lines[i]) && i + 1 < lines.length) {
      const next = ITEM.exec(lines[i + 1]);
      if (next && next[1].length === indent) i += 1; // a loose list goes on
    }
  }
  out.push(el);
  return i;
}

function cells(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function table(lines, start, out, options) {
  const head = cells(lines[start]);
  const rows = [];
  let i = start + 2;
  while (i < lines.length && !isBlank(lines[i]) && lines[i].includes("|")) rows.push(cells(lines[i++]));
  const el = h(
    "table",
    {},
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, inline(c, options))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, head.map((_, n) => h("td", {}, inline(r[n] ?? "", options)))))),
  );
  out.push(h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": head.join(" · ") }, el));
  return i;
}
