// Modal dialogs: an image shown large (for zooms and quadrants, the block's overview with the
// zoomed region outlined, from the event's bbox_norm), a cited block, and a confirmation.
// Native <dialog> with showModal(): focus is trapped, Esc closes, focus returns to the opener.

import { h, replace, safeUrl } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { T } from "./strings.js";

let dialog = null;

function ensureDialog() {
  if (dialog) return dialog;
  dialog = h("dialog", { class: "modal", "aria-labelledby": "modal-title" });
  dialog.addEventListener("close", () => {
    replace(dialog);
    if (dialog.opener && document.contains(dialog.opener)) dialog.opener.focus();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  document.body.append(dialog);
  return dialog;
}

function open(title, body, opener) {
  const d = ensureDialog();
  d.opener = opener || document.activeElement;
  const close = h("button", { type: "button", class: "icon-button modal-close", "aria-label": T.close, onClick: () => d.close() }, "×");
  replace(d, h("header", { class: "modal-head" }, h("h2", { id: "modal-title", text: title }), close), h("div", { class: "modal-body" }, body));
  if (!d.open) d.showModal();
  close.focus();
  return d;
}

export function closeDialog() {
  if (dialog && dialog.open) dialog.close();
}

function kindName(kind) {
  return T.imageKinds[kind] || kind || "";
}

/** An <img> of an API image link (http(s) only). */
export function image(url, alt, cls) {
  const src = safeUrl(url);
  return src ? h("img", { src, alt, class: cls, loading: "lazy", decoding: "async" }) : null;
}

/**
 * Show one image large. `overview` (optional): the overview image of the same block; for a zoom
 * or quadrant it is shown with the region (`item.bbox_norm`, fractions of the overview) outlined.
 */
export function showImage(item, overview, opener) {
  const title = T.imageOf(kindName(item.kind), item.block_id || "");
  const parts = [];
  const box = item.bbox_norm;
  const outlined = overview && item.kind !== "overview" && Array.isArray(box) && box.length === 4;
  if (outlined) {
    const [x1, y1, x2, y2] = box.map(Number);
    const outline = h("div", { class: "region-outline", role: "img", "aria-label": T.zoomedRegion });
    // CSSOM properties (not a style attribute): allowed under the page's CSP
    outline.style.left = `${(x1 * 100).toFixed(2)}%`;
    outline.style.top = `${(y1 * 100).toFixed(2)}%`;
    outline.style.width = `${((x2 - x1) * 100).toFixed(2)}%`;
    outline.style.height = `${((y2 - y1) * 100).toFixed(2)}%`;
    outline.dataset.bbox = box.join(",");
    parts.push(
      h("figure", { class: "overview" },
        h("div", { class: "overview-frame" }, image(overview.url, T.overviewWithRegion(item.block_id), "overview-image"), outline),
        h("figcaption", { text: T.overviewWithRegion(item.block_id) })),
    );
  }
  parts.push(h("figure", { class: "large" }, image(item.url, title, "large-image"), item.reason ? h("figcaption", { text: item.reason }) : null));
  open(title, h("div", { class: outlined ? "image-pair" : "image-single" }, parts), opener);
}

/**
 * Show a cited block: `load()` resolves to the block (GET /projects/documents/{id}/blocks/{block});
 * `citation` (optional) is what the answer says of it (page, sheet, verified, images).
 */
export function showBlock(blockId, load, citation, onImage, opener) {
  const body = h("div", { class: "block-view", "aria-live": "polite" }, h("p", { class: "muted", text: T.blockLoading }));
  open(T.blockTitle(blockId), body, opener);
  const images = (citation && citation.images) || [];
  const gallery = images.length
    ? h("div", { class: "block-images" }, h("h3", { text: T.images }), h("div", { class: "thumbs" },
        images.map((url) => h("button", { type: "button", class: "thumb", "aria-label": T.openImage(T.imageKinds.overview, blockId), onClick: (e) => onImage(url, e.currentTarget) }, image(url, T.imageOf("", blockId), "thumb-image")))))
    : h("p", { class: "muted", text: T.noImagesOfBlock });
  if (!load) {
    replace(body, h("p", { text: T.blockUnknown }), gallery);
    return;
  }
  load().then(
    (block) => {
      const facts = h("dl", { class: "facts" },
        h("dt", { text: T.document }), h("dd", { text: block.document_name || block.document_id }),
        h("dt", { text: T.page }), h("dd", { text: block.page_number ?? "—" }),
        h("dt", { text: T.sheet }), h("dd", { text: [block.sheet, block.sheet_name].filter(Boolean).join(" · ") || "—" }),
        h("dt", { text: T.kind }), h("dd", { text: T.blockKinds[block.kind] || block.kind }),
      );
      const verdict = citation && citation.verified !== undefined && citation.verified !== null
        ? h("p", { class: citation.verified ? "ok" : "warn", text: citation.verified ? T.verified : T.unverified })
        : null;
      replace(body,
        block.heading ? h("p", { class: "block-heading", text: block.heading }) : null,
        facts, verdict,
        h("div", { class: "block-text markdown" }, renderMarkdown(block.text)),
        gallery);
    },
    (error) => replace(body, h("p", { class: "error", role: "alert", text: T.blockFailed(error.message) }), gallery),
  );
}

/** Ask to confirm; resolves true or false. */
export function confirmDialog(title, text, confirmLabel, opener) {
  return new Promise((resolve) => {
    let answered = false;
    const answer = (value) => {
      answered = true;
      resolve(value);
      closeDialog();
    };
    const d = open(title, h("div", {},
      h("p", { text }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", onClick: () => answer(true) }, confirmLabel),
        h("button", { type: "button", onClick: () => answer(false) }, T.cancel))), opener);
    d.addEventListener("close", () => { if (!answered) resolve(false); }, { once: true });
  });
}
