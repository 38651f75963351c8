// The server's public API, as any client uses it. Only the access token (the JWT the static
// token is exchanged for) is kept, in sessionStorage: it lives as long as the tab, never in a
// URL. The static token itself is sent once and forgotten.

import { readEvents } from "./sse.js";

const JWT_KEY = "azd.jwt";
const USER_KEY = "azd.user";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || `http_${status}`;
    this.body = body;
  }
}

export class Api {
  constructor({ onUnauthorized } = {}) {
    this.onUnauthorized = onUnauthorized || (() => {});
  }

  get token() {
    return sessionStorage.getItem(JWT_KEY);
  }

  get user() {
    try {
      return JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
    } catch {
      return null;
    }
  }

  /** Exchange the static token; throws ApiError (401 unknown token, 403 blocked user). */
  async signIn(staticToken) {
    const body = await this.request("POST", "/auth/exchange", { static_token: staticToken }, { auth: false });
    sessionStorage.setItem(JWT_KEY, body.access_token);
    sessionStorage.setItem(USER_KEY, JSON.stringify(body.user));
    return body.user;
  }

  async signOut() {
    const token = this.token;
    this.forget();
    if (token) {
      try {
        await fetch("/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
      } catch {
        /* the token expires anyway */
      }
    }
  }

  forget() {
    sessionStorage.removeItem(JWT_KEY);
    sessionStorage.removeItem(USER_KEY);
  }

  headers(extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async check(response, auth) {
    if (response.ok) return response;
    let body = null;
    try {
      body = await response.json();
    } catch {
      /* not JSON (a proxy's page) */
    }
    const error = new ApiError(response.status, body);
    if (auth && (response.status === 401 || (response.status === 403 && /^user_/.test(error.code)))) {
      this.forget();
      this.onUnauthorized(error);
    }
    throw error;
  }

  /** JSON in, JSON out. */
  async request(method, path, body, { auth = true } = {}) {
    const init = { method, headers: this.headers() };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await this.check(await fetch(path, init), auth);
    return response.status === 204 ? null : response.json();
  }

  get(path) {
    return this.request("GET", path);
  }

  async upload(file) {
    const form = new FormData();
    form.append("file", file);
    const response = await this.check(
      await fetch("/files/upload", { method: "POST", headers: this.headers(), body: form }),
      true,
    );
    return response.json();
  }

  /**
   * Follow the answer of a chat: GET /chats/{id}/stream with the query, resuming after
   * `lastEventId` when given. onEvent gets {id, event, data}. Resolves when the stream ends.
   */
  async stream(chatId, query, lastEventId, onEvent, signal) {
    const extra = { Accept: "text/event-stream" };
    if (lastEventId) extra["Last-Event-ID"] = String(lastEventId);
    const qs = query && query.toString() ? `?${query}` : "";
    const response = await this.check(
      await fetch(`/chats/${encodeURIComponent(chatId)}/stream${qs}`, {
        headers: this.headers(extra),
        cache: "no-store",
        signal,
      }),
      true,
    );
    await readEvents(response, onEvent);
  }
}
