// Calls to the control API of this admin port. Every call carries the admin token when the
// operator gave one; it is kept in sessionStorage so it dies with the tab and is never sent
// anywhere but here.

const TOKEN_KEY = "rollgate.token";
const TIMEOUT_MS = 5000;

/** The API refused the token (or wants one): the page shows its sign-in form. */
export class AuthError extends Error {}

/** A call answered with an error body `{"error": {"code", "message"}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Sends one request; resolves with the JSON body of a 2xx, throws otherwise. */
export async function call(method, path) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  // A stuck call must not freeze the live view: it is abandoned and the next poll retries.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let resp;
  try {
    resp = await fetch(path, { method, headers, signal: abort.signal, cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, "network", abort.signal.aborted ? "the gateway did not answer in time" : "the gateway is unreachable");
  } finally {
    clearTimeout(timer);
  }
  if (resp.status === 401) throw new AuthError("unauthorized");
  const body = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || resp.statusText);
  }
  return body;
}

export const get = (path) => call("GET", path);
export const post = (path) => call("POST", path);

const svc = (name) => `/api/v1/services/${encodeURIComponent(name)}`;

export async function services() {
  const body = await get("/api/v1/services");
  return (body && body.services) || [];
}

/**
 * The service's rollout: a RolloutView, `null` when it has none, or `undefined` when this
 * gateway has no rollout API at all (its unmatched-route 404), so the page can say so once.
 */
export async function rollout(name) {
  try {
    const body = await get(`${svc(name)}/rollout`);
    return body ? body.rollout : null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && e.code === "not_found") return undefined;
    throw e;
  }
}

export async function events(name, limit = 50) {
  const q = new URLSearchParams({ service: name, limit: String(limit) });
  const body = await get(`/api/v1/events?${q}`);
  return (body && body.events) || [];
}

/** pause | resume | approve | promote | abort. */
export async function act(name, action) {
  const body = await post(`${svc(name)}/rollout/${action}`);
  return body ? body.rollout : null;
}
