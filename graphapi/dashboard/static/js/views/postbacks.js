// The postback log: every postback with its outcome and message, by outcome.

import { gql } from "../api.js";
import { emptyState, h } from "../dom.js";
import { DASH, dateTime } from "../format.js";

const QUERY = `query Postbacks($outcome: PostbackOutcome) {
  postbacks(first: 200, outcome: $outcome) {
    edges { node { id receivedAt outcome message clickId params remoteAddr conversion { id status } } }
  }
}`;

const OUTCOMES = ["CREATED", "UPDATED", "DUPLICATE", "INVALID", "FORBIDDEN", "UNKNOWN_CLICK"];
const label = (outcome) => outcome.toLowerCase().replace("_", " ");

export function postbacksView(app) {
  const outcome = h("select", { id: "postback-outcome", onchange: () => load() },
    h("option", { value: "" }, "All outcomes"), OUTCOMES.map((o) => h("option", { value: o }, label(o))));
  const body = h("div", { class: "view-body", "aria-live": "polite" });
  const root = h("section", { class: "view", "aria-labelledby": "view-title" },
    h("h1", { id: "view-title" }, "Postback log"),
    h("p", { class: "hint" }, "Every request to /postback, whatever became of it: filter by outcome to see why a conversion did not count."),
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: "postback-outcome" }, "Outcome"), outcome),
      h("button", { type: "button", onclick: () => load() }, "Refresh")),
    body);

  async function load() {
    try {
      const data = await gql(QUERY, { outcome: outcome.value || null });
      const postbacks = data.postbacks.edges.map((e) => e.node);
      body.replaceChildren(postbacks.length ? table(postbacks) : emptyState(
        outcome.value ? `No postbacks with outcome “${label(outcome.value)}”.` : "No postbacks received yet.",
        h("p", {}, "Give the network a campaign's postback URL; each call it makes shows up here, refused ones too.")));
      root.dataset.loaded = "true";
      root.dataset.outcome = outcome.value;
    } catch (error) {
      app.fail(error, body);
    }
  }

  const table = (postbacks) => h("div", { class: "table-wrap" }, h("table", { class: "data" },
    h("caption", {}, `${postbacks.length} latest postbacks`),
    h("thead", {}, h("tr", {}, ["Received", "Outcome", "Message", "Click id", "From", "Parameters"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, postbacks.map((p) => h("tr", { dataset: { outcome: p.outcome } },
      h("td", { "data-label": "Received" }, dateTime(p.receivedAt, app.prefs.timeZone)),
      h("td", { "data-label": "Outcome" }, h("span", { class: `badge outcome-${p.outcome.toLowerCase()}` }, label(p.outcome))),
      h("td", { "data-label": "Message" }, p.message ?? (p.conversion ? `conversion ${p.conversion.id} (${p.conversion.status.toLowerCase()})` : DASH)),
      h("td", { "data-label": "Click id", class: "mono" }, p.clickId ?? DASH),
      h("td", { "data-label": "From", class: "mono" }, p.remoteAddr ?? DASH),
      h("td", { "data-label": "Parameters" }, h("code", { class: "mono params" }, new URLSearchParams(Object.entries(p.params).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : String(v)])).toString()))))),
  ));

  load();
  return { root, refresh: load };
}
