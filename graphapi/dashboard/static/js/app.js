// The dashboard shell: the API key, the views by URL hash, the shared range
// preferences, and one live conversionRecorded subscription for every view.

import { apiKey, subscribe } from "./api.js";
import { errorBox, h } from "./dom.js";
import { localZone, RANGES, resolveRange } from "./format.js";
import { newCampaignForm } from "./forms.js";
import { campaignView } from "./views/campaign.js";
import { campaignsView } from "./views/campaigns.js";
import { CONVERSION_FIELDS, conversionsView } from "./views/conversions.js";
import { postbacksView } from "./views/postbacks.js";
import { ruleEventsView } from "./views/ruleEvents.js";

const PREFS = "graphapi.prefs";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const liveState = document.getElementById("live-state");

const conversionListeners = new Set();
const liveListeners = new Set();
let current = null;
let unsubscribe = null;
let wasLive = false;

const app = {
  prefs: { range: "today", timeZone: localZone(), ...JSON.parse(localStorage.getItem(PREFS) || "{}") },
  savePrefs() {
    localStorage.setItem(PREFS, JSON.stringify(app.prefs));
  },
  range() {
    return { ...resolveRange(app.prefs), timeZone: app.prefs.timeZone };
  },
  rangeLabel() {
    const { first, last } = app.range();
    const name = RANGES[app.prefs.range] ?? RANGES.today;
    return `${name} (${first === last ? first : `${first} – ${last}`}, ${app.prefs.timeZone})`;
  },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  // Show an API error in place of a view's content; a refused key asks for a new one.
  fail(error, where) {
    if (error.unauthorized) {
      apiKey.clear();
      showKeyForm(error.message);
      return;
    }
    where.replaceChildren(errorBox(error), h("button", { type: "button", onclick: () => current?.refresh?.() }, "Try again"));
  },
  onConversion(listener) {
    conversionListeners.add(listener);
    return () => conversionListeners.delete(listener);
  },
  onLive(listener) {
    liveListeners.add(listener);
    return () => liveListeners.delete(listener);
  },
  liveBadge() {
    return h("span", { class: "live", "aria-live": "polite", dataset: { live: liveState.dataset.state ?? "" } }, liveState.textContent);
  },
};

const ROUTES = [
  [/^#\/campaigns\/new$/, () => ({ root: h("section", { class: "view" }, newCampaignForm(app)) }), "campaigns"],
  [/^#\/campaigns\/(\d+)$/, (id) => campaignView(app, id), "campaigns"],
  [/^#\/conversions$/, () => conversionsView(app), "conversions"],
  [/^#\/postbacks$/, () => postbacksView(app), "postbacks"],
  [/^#\/rule-events(?:\/(\d+))?$/, (id) => ruleEventsView(app, id ?? null), "rule-events"],
  [/^(#\/campaigns)?$/, () => campaignsView(app), "campaigns"],
];

function route() {
  if (!apiKey.get()) {
    showKeyForm();
    return;
  }
  current?.dispose?.();
  document.title = "graphapi dashboard";
  nav.hidden = false;
  const hash = location.hash;
  const match = ROUTES.find(([pattern]) => pattern.test(hash));
  if (!match) {
    current = { root: h("section", { class: "view" }, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/campaigns" }, "Go to the campaigns"))) };
  } else {
    const [pattern, view, section] = match;
    current = view(...hash.match(pattern).slice(1));
    for (const link of nav.querySelectorAll("a")) {
      if (link.dataset.section === section) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }
  main.replaceChildren(current.root);
  startLive();
}

function showKeyForm(problem) {
  current?.dispose?.();
  current = null;
  stopLive();
  nav.hidden = true;
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: false, "aria-describedby": "api-key-help" });
  const form = h("form", {
    class: "card form key-form",
    onsubmit: (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      apiKey.set(input.value);
      route();
    },
  },
  h("h1", {}, "Sign in with an API key"),
  problem ? h("div", { class: "error", role: "alert" }, problem) : null,
  h("div", { class: "field" }, h("label", { for: "api-key" }, "API key"), input,
    h("small", { class: "hint", id: "api-key-help" }, "Create one on the server with ", h("code", {}, "graphapi create-api-key dashboard"),
      ". It is kept in this browser only and sent with every request.")),
  h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Open the dashboard")));
  main.replaceChildren(form);
  input.focus();
}

function setLive(state, detail) {
  const text = { connecting: "Connecting…", live: "Live", offline: "Offline: reconnecting", refused: "Live updates refused" }[state];
  liveState.dataset.state = state;
  liveState.textContent = text;
  liveState.title = detail ?? "";
  for (const badge of document.querySelectorAll(".live")) {
    badge.dataset.live = state;
    badge.textContent = text;
  }
  if (state === "live") {
    if (wasLive) liveListeners.forEach((listener) => listener());
    wasLive = true;
  }
}

function startLive() {
  if (unsubscribe) return;
  unsubscribe = subscribe(`subscription { conversionRecorded { ${CONVERSION_FIELDS} } }`, {}, {
    onEvent: (data) => conversionListeners.forEach((listener) => listener(data)),
    onState: setLive,
  });
}

function stopLive() {
  unsubscribe?.();
  unsubscribe = null;
  wasLive = false;
  setLive("offline");
  liveState.textContent = "";
}

document.getElementById("sign-out").addEventListener("click", () => {
  apiKey.clear();
  showKeyForm();
});
window.addEventListener("hashchange", route);
// Whatever else breaks, say so rather than leave a blank page.
window.addEventListener("unhandledrejection", (event) => main.prepend(errorBox(event.reason)));
window.addEventListener("error", (event) => main.prepend(errorBox(event.error ?? event.message)));
route();
