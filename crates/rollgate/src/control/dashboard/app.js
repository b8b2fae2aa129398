// The dashboard's main loop: poll the control API every second, keep a few minutes of history
// in the tab, render, and carry out the operator's rollout verbs after an in-page confirmation.
// Polling (rather than a push stream) keeps the server side to plain GETs the API already has.

import * as api from "./api.js";
import { History } from "./history.js";
import { Charts } from "./charts.js";
import * as view from "./view.js";
import { clock, phaseName } from "./format.js";

const POLL_MS = 1000;
/** Events change rarely and the log is the heaviest answer: every few polls is enough. */
const EVENTS_EVERY = 3;
/** A gateway without the rollout API is asked again now and then (it may be upgraded). */
const ROLLOUT_RETRY_MS = 30000;

const $ = (id) => document.getElementById(id);

const state = {
  services: [],
  rollouts: new Map(),
  rolloutApi: true,
  rolloutCheckedAt: 0,
  history: new Map(),
  selected: null,
  polls: 0,
  /** Set when the operator switches service, so its event log shows at the next poll. */
  eventsDue: true,
  timer: null,
  busy: false,
  charts: null,
};

function selectedFromHash() {
  const m = location.hash.match(/^#\/service\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

async function fetchRollouts(names) {
  const now = Date.now();
  if (!state.rolloutApi && now - state.rolloutCheckedAt < ROLLOUT_RETRY_MS) return;
  state.rolloutCheckedAt = now;
  const found = await Promise.all(names.map((n) => api.rollout(n)));
  state.rolloutApi = !found.some((r) => r === undefined) || names.length === 0;
  state.rollouts = new Map(names.map((n, i) => [n, found[i]]));
}

/** One poll: services (and their history), rollouts, and now and then the event log. */
async function refresh({ events = false } = {}) {
  const services = await api.services();
  const now = Date.now() / 1000;
  state.services = services;
  for (const svc of services) {
    if (!state.history.has(svc.name)) state.history.set(svc.name, new History());
    state.history.get(svc.name).push(now, svc);
  }
  await fetchRollouts(services.map((s) => s.name));
  const names = services.map((s) => s.name);
  state.selected = names.includes(selectedFromHash()) ? selectedFromHash() : names[0] || null;
  if (state.selected && (events || state.eventsDue || state.polls % EVENTS_EVERY === 0)) {
    state.eventsDue = false;
    view.events(await api.events(state.selected));
  }
  render();
}

function render() {
  view.serviceList(state.services, state.rollouts, state.selected, state.rolloutApi);
  const svc = state.services.find((s) => s.name === state.selected);
  $("empty").hidden = Boolean(svc);
  $("empty").textContent = state.services.length ? "" : "This gateway serves no services.";
  $("service").hidden = !svc;
  if (!svc) return;
  const order = view.versionOrder(svc);
  const hist = state.history.get(svc.name);
  $("service-name").textContent = svc.name;
  $("service-meta").textContent = `revision ${svc.revision} · ${svc.versions.length} versions`;
  view.compare(svc, order, hist);
  view.rollout(state.rollouts.get(svc.name) ?? null, state.rolloutApi);
  state.charts.update(svc.name, order, hist);
}

function connection(kind, text, time = "") {
  $("conn-dot").className = "dot dot-" + kind;
  // Rewriting the live region with the same words would still be announced: only on change.
  if ($("conn-text").textContent !== text) $("conn-text").textContent = text;
  $("conn-time").textContent = time;
  document.body.dataset.connection = kind;
}

async function poll() {
  // The poll under way schedules the next one; a second loop must never start.
  if (state.busy) return;
  clearTimeout(state.timer);
  state.busy = true;
  try {
    await refresh();
    state.polls++;
    connection("ok", "Live", `· updated ${clock(Date.now())}`);
  } catch (e) {
    if (e instanceof api.AuthError) {
      state.busy = false;
      return signIn(Boolean(api.token()));
    }
    connection("error", `Connection problem: ${e.message}; retrying`);
  }
  state.busy = false;
  $("logout").hidden = !api.token();
  state.timer = setTimeout(poll, POLL_MS);
}

/** Opens the sign-in form; polling stops until a token is entered. */
function signIn(refused) {
  clearTimeout(state.timer);
  connection("auth", "Sign-in required");
  const err = $("login-error");
  err.hidden = !refused;
  err.textContent = refused ? "That token was refused." : "";
  const dlg = $("login");
  if (!dlg.open) dlg.showModal();
  $("login-token").focus();
}

function setupLogin() {
  const dlg = $("login");
  // Without a token there is nothing to show: Escape must not leave an empty page behind.
  dlg.addEventListener("cancel", (e) => e.preventDefault());
  $("login-form").addEventListener("submit", () => {
    api.setToken($("login-token").value.trim());
    $("login-token").value = "";
    poll();
  });
  $("logout").addEventListener("click", () => {
    api.setToken("");
    $("logout").hidden = true;
    poll();
  });
}

const CONFIRM = {
  pause: ["Pause the rollout?", (s, ro) => `The rollout of ${ro.candidate} on ${s} stops where it is: traffic stays at ${ro.candidate_percent} % and the step clock stops until you resume.`],
  resume: ["Resume the rollout?", (s, ro) => `The rollout of ${ro.candidate} on ${s} carries on from step ${ro.step + 1}.`],
  approve: ["Approve this gate?", (s, ro) => `The rollout of ${ro.candidate} on ${s} passes its gate and moves on to the next step.`],
  promote: ["Promote now?", (s, ro) => `${ro.candidate} gets 100 % of ${s}'s traffic now, skipping the remaining steps and checks.`],
  abort: ["Abort the rollout?", (s, ro) => `All of ${s}'s traffic goes back to ${ro.stable}; ${ro.candidate} gets none. This cannot be undone.`],
};

/** Asks in an in-page dialog; resolves true on Confirm. */
function confirmAction(title, text, danger) {
  const dlg = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").className = danger ? "danger" : "";
  dlg.returnValue = "";
  dlg.showModal();
  // Focus the harmless choice first, so Enter on a stray keypress does not abort a rollout.
  dlg.querySelector("[value=no]").focus();
  return new Promise((resolve) => dlg.addEventListener("close", () => resolve(dlg.returnValue === "yes"), { once: true }));
}

async function onAction(action) {
  const service = state.selected;
  const ro = state.rollouts.get(service);
  if (!service || !ro) return;
  const [title, text] = CONFIRM[action];
  if (!(await confirmAction(title, text(service, ro), action === "abort"))) return;
  const out = $("action-result");
  out.hidden = false;
  out.className = "notice";
  out.textContent = `Sending ${action}…`;
  try {
    const next = await api.act(service, action);
    if (next) state.rollouts.set(service, next);
    out.textContent = `${action[0].toUpperCase() + action.slice(1)}: the rollout is now ${next ? phaseName(next.phase) : "updated"}.`;
    out.className = "notice ok";
  } catch (e) {
    if (e instanceof api.AuthError) return signIn(true);
    out.textContent = `${action} refused: ${e.message}`;
    out.className = "notice error";
  }
  render();
  await refresh({ events: true }).catch(() => {});
}

function start() {
  state.charts = new Charts($("charts"));
  setupLogin();
  for (const b of document.querySelectorAll("[data-action]")) {
    b.addEventListener("click", () => onAction(b.dataset.action));
  }
  window.addEventListener("hashchange", () => {
    const wanted = selectedFromHash();
    if (state.services.some((s) => s.name === wanted)) {
      state.selected = wanted;
      render(); // from the last poll's data, at once; the next poll brings its event log
    }
    state.eventsDue = true;
    poll();
  });
  poll();
}

start();
