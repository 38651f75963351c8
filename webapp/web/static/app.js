// The page: sign in, chats, the question form, answers. Uses the server's public API only.

import { Api } from "./api.js";
import { AnswerView, LiveAnswer, forgetRun, savedRun } from "./answer.js";
import { h, replace, uid } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { T } from "./strings.js";
import { closeDialog, confirmDialog } from "./viewer.js";

const CHAT_KEY = "azd.chat";
const DEFAULT_TITLE = "Новый чат";
const MAX_DOCUMENTS = 2;

const root = document.getElementById("app");
const api = new Api({ onUnauthorized: (error) => showSignIn(authMessage(error)) });

const state = {
  chats: [],
  chat: null,
  documents: [], // [{id, name, code}] chosen for the next question
  files: [], // [{id, filename}] uploaded for the next question
  live: null,
  settings: null,
  roles: [],
};
const ui = {};

function authMessage(error) {
  if (!error) return "";
  if (error.status === 403) return error.code === "user_blocked" ? T.userBlocked : T.userInactive(error.code.replace(/^user_/, ""));
  if (error.status === 401) return T.sessionExpired;
  return error.message;
}

function describe(error) {
  if (!error.status) return T.networkError;
  if (error.status === 429) return T.tooManyAttempts;
  if (error.status >= 500) return T.serverError(error.status);
  return error.message;
}

// --- sign in -------------------------------------------------------------------------------------
function showSignIn(message = "") {
  state.live = null;
  closeDialog();
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false", "aria-describedby": "token-hint token-error" });
  const error = h("p", { id: "token-error", class: "error", role: "alert", text: message });
  const button = h("button", { type: "submit", class: "primary" }, T.signIn);
  const form = h("form", { class: "signin-form", onSubmit: async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    button.textContent = T.signingIn;
    error.textContent = "";
    try {
      await api.signIn(token);
      input.value = "";
      await showApp();
    } catch (e) {
      error.textContent = e.status === 401 ? T.wrongToken : e.status === 403 ? authMessage(e) : describe(e);
      button.disabled = false;
      button.textContent = T.signIn;
      input.focus();
      input.select();
    }
  } },
  h("label", { for: "token", text: T.tokenLabel }), input,
  h("p", { id: "token-hint", class: "muted", text: T.signInHint }), error, button);
  replace(root, h("main", { class: "signin", id: "main" },
    h("h1", {}, T.appTitle, h("span", { class: "subtitle", text: T.appSubtitle })),
    h("h2", { text: T.signInTitle }), form));
  input.focus();
}

// --- the app ---------------------------------------------------------------------------------
async function showApp() {
  buildLayout();
  const [chats, me, roles] = await Promise.all([
    api.get("/chats?limit=100"),
    api.get("/me"),
    api.get("/prompts/roles").catch(() => []),
  ]);
  state.chats = chats;
  state.settings = me.settings;
  state.roles = roles;
  ui.user.textContent = me.user.username;
  fillSettings();
  renderChats();
  loadDocuments("");
  const run = savedRun();
  const remembered = run?.chatId || sessionStorage.getItem(CHAT_KEY);
  if (remembered && chats.some((c) => c.id === remembered)) {
    await openChat(remembered);
  } else {
    forgetRun();
    showNoChat();
  }
  if (!run) ui.question.focus();
}

function buildLayout() {
  ui.user = h("span", { class: "user" });
  const header = h("header", { class: "top" },
    h("a", { class: "skip", href: "#question" }, T.skipToQuestion),
    h("h1", {}, T.appTitle), ui.user,
    h("button", { type: "button", class: "link-button", onClick: async () => { forgetRun(); sessionStorage.removeItem(CHAT_KEY); await api.signOut(); showSignIn(); } }, T.signOut));

  ui.chatList = h("ul", { class: "chat-list" });
  const nav = h("nav", { class: "sidebar", "aria-label": T.chatList },
    h("h2", { class: "sidebar-title", text: T.chats }),
    h("button", { type: "button", class: "primary new-chat", onClick: () => newChat() }, T.newChat),
    ui.chatList);

  ui.chatHead = h("div", { class: "chat-head" });
  ui.messages = h("section", { class: "messages", "aria-label": T.messages });
  ui.composer = buildComposer();
  const main = h("main", { class: "main", id: "main" }, ui.chatHead, ui.messages, ui.composer);
  replace(root, header, h("div", { class: "layout" }, nav, main));
}

function buildComposer() {
  // documents: search + choice of up to two
  ui.docSearch = h("input", { id: "doc-search", type: "search", placeholder: T.searchPlaceholder, autocomplete: "off", "aria-describedby": "doc-hint", "aria-controls": "doc-results" });
  let timer = null;
  ui.docSearch.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => loadDocuments(ui.docSearch.value.trim()), 250);
  });
  ui.docResults = h("ul", { id: "doc-results", class: "doc-results", "aria-label": T.documents });
  ui.docChosen = h("div", { class: "chips", "aria-label": T.selectedDocuments, role: "group" });
  const docs = h("fieldset", { class: "documents" },
    h("legend", { text: T.documents }),
    h("p", { id: "doc-hint", class: "muted", text: T.documentsHint }),
    h("label", { for: "doc-search", text: T.searchDocuments }), ui.docSearch, ui.docResults, ui.docChosen);

  // a file
  ui.fileInput = h("input", { id: "file", type: "file", class: "file-input", onChange: () => uploadFiles() });
  ui.fileChips = h("div", { class: "chips", role: "group", "aria-label": T.attached });
  ui.fileStatus = h("p", { class: "muted", role: "status" });
  const file = h("div", { class: "field" }, h("label", { for: "file", text: T.attachFile }), ui.fileInput, ui.fileStatus, ui.fileChips);

  // settings
  ui.mode = h("select", { id: "mode", onChange: () => saveSetting({ model_profile: ui.mode.value }) },
    h("option", { value: "simple" }, T.modeSimple), h("option", { value: "complex" }, T.modeComplex));
  ui.role = h("select", { id: "role", onChange: () => saveSetting({ selected_role_prompt_id: ui.role.value ? Number(ui.role.value) : null }) });
  const settings = h("div", { class: "settings" },
    h("div", { class: "field" }, h("label", { for: "mode", text: T.mode }), ui.mode),
    h("div", { class: "field" }, h("label", { for: "role", text: T.role }), ui.role), file);

  // the question
  ui.question = h("textarea", { id: "question", name: "question", rows: "3", required: true, maxlength: "20000", placeholder: T.questionPlaceholder, "aria-describedby": "question-hint" });
  ui.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.ask = h("button", { type: "submit", class: "primary ask" }, T.ask);
  ui.formError = h("p", { class: "error", role: "alert" });
  ui.form = h("form", { class: "composer", onSubmit: (event) => { event.preventDefault(); ask(); } },
    h("details", { class: "options" }, h("summary", { text: `${T.documents}, ${T.mode.toLowerCase()}, ${T.role.toLowerCase()}` }), docs, settings),
    h("label", { for: "question", class: "question-label", text: T.question }), ui.question,
    h("p", { id: "question-hint", class: "muted hint", text: T.questionHint }),
    ui.formError, h("div", { class: "actions" }, ui.ask));
  return ui.form;
}

function fillSettings() {
  ui.mode.value = state.settings?.model_profile === "complex" ? "complex" : "simple";
  replace(ui.role, h("option", { value: "" }, T.noRole),
    state.roles.map((r) => h("option", { value: String(r.id), title: r.description || "" }, r.name)));
  ui.role.value = state.settings?.selected_role_prompt_id ? String(state.settings.selected_role_prompt_id) : "";
}

async function saveSetting(change) {
  try {
    state.settings = await api.request("PATCH", "/me/settings", change);
  } catch (error) {
    if (error.status !== 401) ui.formError.textContent = describe(error);
  }
}

// --- chats -----------------------------------------------------------------------------------
function renderChats() {
  if (!state.chats.length) {
    replace(ui.chatList, h("li", { class: "muted", text: T.noChats }));
    return;
  }
  replace(ui.chatList, state.chats.map((chat) => h("li", {},
    h("button", { type: "button", class: "chat-item", "aria-current": state.chat?.id === chat.id ? "page" : null, dataset: { chat: chat.id }, onClick: () => openChat(chat.id) },
      h("span", { class: "chat-title", text: chat.title }),
      h("span", { class: "chat-date muted", text: formatDate(chat.updated_at) })))));
}

function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString("ru-RU", { dateStyle: "short", timeStyle: "short" });
}

function showNoChat() {
  state.chat = null;
  sessionStorage.removeItem(CHAT_KEY);
  replace(ui.chatHead, h("h2", { class: "chat-title", text: T.newChat }));
  replace(ui.messages, h("p", { class: "muted empty", text: T.chooseChat }));
  renderChats();
}

async function refreshChats() {
  state.chats = await api.get("/chats?limit=100");
  renderChats();
}

function leaveLive() {
  if (state.live && !state.live.finished) state.live.detach();
  state.live = null;
  setBusy(false);
}

async function newChat() {
  try {
    const chat = await api.request("POST", "/chats", {});
    state.chats.unshift(chat);
    await openChat(chat.id);
    ui.question.focus();
  } catch (error) {
    ui.formError.textContent = describe(error);
  }
}

function renderChatHead() {
  const chat = state.chat;
  replace(ui.chatHead,
    h("h2", { class: "chat-title", id: "chat-title", text: chat.title }),
    h("div", { class: "chat-actions" },
      h("button", { type: "button", class: "link-button", onClick: () => startRename() }, T.rename),
      h("button", { type: "button", class: "link-button danger-text", onClick: (e) => deleteChat(e.currentTarget) }, T.delete)));
}

function startRename() {
  const id = uid("rename");
  const input = h("input", { id, type: "text", value: state.chat.title, maxlength: "500", required: true });
  const cancel = () => renderChatHead();
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.preventDefault(); cancel(); } });
  replace(ui.chatHead, h("form", { class: "rename-form", onSubmit: async (event) => {
    event.preventDefault();
    try {
      const chat = await api.request("PATCH", `/chats/${encodeURIComponent(state.chat.id)}`, { title: input.value });
      state.chat = { ...state.chat, ...chat };
      state.chats = state.chats.map((c) => (c.id === chat.id ? { ...c, ...chat } : c));
      renderChatHead();
      renderChats();
    } catch (error) {
      ui.formError.textContent = describe(error);
    }
  } },
  h("label", { for: id, class: "visually-hidden", text: T.renameLabel }), input,
  h("button", { type: "submit" }, T.save), h("button", { type: "button", onClick: cancel }, T.cancel)));
  input.focus();
  input.select();
}

async function deleteChat(opener) {
  const chat = state.chat;
  if (!(await confirmDialog(T.deleteConfirmTitle, T.deleteConfirmText(chat.title), T.delete, opener))) return;
  try {
    await api.request("DELETE", `/chats/${encodeURIComponent(chat.id)}`);
    state.chats = state.chats.filter((c) => c.id !== chat.id);
    if (savedRun()?.chatId === chat.id) forgetRun();
    leaveLive();
    showNoChat();
  } catch (error) {
    ui.formError.textContent = describe(error);
  }
}

async function openChat(chatId) {
  leaveLive();
  const saved = savedRun();
  const resume = saved && saved.chatId === chatId ? saved : null;
  const history = await api.get(`/chats/${encodeURIComponent(chatId)}?limit=200`);
  state.chat = history.chat;
  sessionStorage.setItem(CHAT_KEY, chatId);
  renderChatHead();
  renderChats();
  let messages = history.messages;
  if (resume) {
    // the answer being followed is shown live; drop it if it was saved meanwhile
    const lastQuestion = messages.map((m) => m.role).lastIndexOf("user");
    if (lastQuestion >= 0) messages = messages.slice(0, lastQuestion + 1);
  }
  replace(ui.messages, messages.length ? renderHistory(messages) : h("p", { class: "muted empty", text: T.emptyChat }));
  if (resume) follow(chatId, resume.query, resume);
  else scrollToEnd();
}

function renderHistory(messages) {
  const out = [];
  let questionImages = [];
  for (const message of messages) {
    if (message.role === "user") {
      questionImages = message.images || [];
      out.push(userMessage(message.content));
    } else {
      const images = questionImages.map((i) => ({ url: i.url, kind: i.image_type, block_id: i.description, width: i.width, height: i.height }));
      const view = new AnswerView(api, { text: message.content, images, citations: message.citations || [] });
      view.el.dataset.state = "stored";
      out.push(view.el);
      questionImages = [];
    }
  }
  return out;
}

function userMessage(content) {
  return h("article", { class: "message user", "aria-label": T.you },
    h("header", { class: "message-head", text: T.you }),
    h("div", { class: "markdown" }, renderMarkdown(content)));
}

function scrollToEnd() {
  ui.messages.lastElementChild?.scrollIntoView({ block: "end" });
}

// --- documents and files ---------------------------------------------------------------------
async function loadDocuments(text) {
  try {
    const nodes = text
      ? await api.get(`/projects/search?${new URLSearchParams({ q: text, limit: "30" })}`)
      : await api.get("/projects/tree?all_nodes=true&node_type=document");
    renderDocuments(nodes.filter((n) => n.node_type === "document").slice(0, 30));
  } catch (error) {
    if (error.status !== 401) replace(ui.docResults, h("li", { class: "error", text: describe(error) }));
  }
}

function renderDocuments(nodes) {
  if (!nodes.length) {
    replace(ui.docResults, h("li", { class: "muted", text: T.noDocuments }));
    return;
  }
  const full = state.documents.length >= MAX_DOCUMENTS;
  replace(ui.docResults, nodes.map((node) => {
    const id = uid("doc");
    const chosen = state.documents.some((d) => d.id === node.id);
    const box = h("input", { id, type: "checkbox", checked: chosen, disabled: full && !chosen, dataset: { document: node.id }, onChange: () => {
      if (box.checked) state.documents.push({ id: node.id, name: node.name, code: node.code });
      else state.documents = state.documents.filter((d) => d.id !== node.id);
      renderChosen();
      renderDocuments(nodes);
      document.getElementById(id)?.focus();
    } });
    return h("li", {}, box, h("label", { for: id }, h("span", { class: "doc-name", text: node.name }), node.code ? h("span", { class: "muted", text: ` ${node.code}` }) : null));
  }));
}

function renderChosen() {
  replace(ui.docChosen,
    state.documents.length === 2 ? h("p", { class: "muted", text: T.compareMode }) : null,
    state.documents.map((d, n) => h("span", { class: "chip" },
      `${state.documents.length === 2 ? (n ? "B: " : "A: ") : ""}${d.code || d.name}`,
      h("button", { type: "button", class: "chip-remove", "aria-label": T.removeDocument(d.code || d.name), onClick: () => {
        state.documents = state.documents.filter((x) => x.id !== d.id);
        renderChosen();
        loadDocuments(ui.docSearch.value.trim());
      } }, "×"))));
}

async function uploadFiles() {
  for (const file of Array.from(ui.fileInput.files || [])) {
    ui.fileStatus.textContent = T.uploading(file.name);
    try {
      const stored = await api.upload(file);
      state.files.push({ id: stored.id, filename: stored.filename });
      ui.fileStatus.textContent = "";
    } catch (error) {
      ui.fileStatus.textContent = T.uploadFailed(file.name, describe(error));
    }
  }
  ui.fileInput.value = "";
  renderFiles();
}

function renderFiles() {
  replace(ui.fileChips, state.files.map((f) => h("span", { class: "chip" }, f.filename,
    h("button", { type: "button", class: "chip-remove", "aria-label": T.removeFile(f.filename), onClick: () => {
      state.files = state.files.filter((x) => x.id !== f.id);
      renderFiles();
    } }, "×"))));
}

// --- asking ----------------------------------------------------------------------------------
function setBusy(busy) {
  ui.ask.disabled = busy;
  ui.ask.textContent = busy ? T.busy : T.ask;
}

async function ask() {
  const content = ui.question.value.trim();
  if (!content || (state.live && !state.live.finished)) return;
  ui.formError.textContent = "";
  setBusy(true);
  try {
    if (!state.chat) {
      const chat = await api.request("POST", "/chats", { title: content.slice(0, 80) });
      state.chats.unshift(chat);
      await openChat(chat.id);
    } else if (state.chat.title === DEFAULT_TITLE) {
      const chat = await api.request("PATCH", `/chats/${encodeURIComponent(state.chat.id)}`, { title: content.slice(0, 80) });
      state.chat = chat;
      state.chats = state.chats.map((c) => (c.id === chat.id ? chat : c));
      renderChatHead();
      renderChats();
    }
    const compare = state.documents.length === 2;
    const body = { content, attached_file_ids: state.files.map((f) => f.id) };
    const query = new URLSearchParams();
    if (compare) {
      query.append("compare_document_ids_a", state.documents[0].id);
      query.append("compare_document_ids_b", state.documents[1].id);
    } else {
      body.attached_document_ids = state.documents.map((d) => d.id);
    }
    await api.request("POST", `/chats/${encodeURIComponent(state.chat.id)}/messages`, body);
    ui.question.value = "";
    state.files = [];
    renderFiles();
    ui.messages.querySelector(".empty")?.remove();
    ui.messages.append(userMessage(content));
    follow(state.chat.id, query.toString(), { documents: state.documents.map((d) => d.id), fresh: true });
  } catch (error) {
    setBusy(false);
    if (error.status !== 401) ui.formError.textContent = describe(error);
  }
}

function follow(chatId, query, saved) {
  setBusy(true);
  const live = new LiveAnswer(api, chatId, query || "", saved?.fresh ? { documents: saved.documents } : saved, () => {
    setBusy(false);
    refreshChats().catch(() => {});
  });
  live.onRetry = () => setBusy(true);
  if (saved?.fresh) live.setProgress(T.started);
  state.live = live;
  ui.messages.append(live.el);
  live.el.scrollIntoView({ block: "end" });
  live.run();
}

// --- start -----------------------------------------------------------------------------------
if (api.token) {
  showApp().catch((error) => {
    if (error.status !== 401 && error.status !== 403) showSignIn(describe(error));
  });
} else {
  showSignIn();
}
