// Rule events: what each rule did and when, failures included.

import { gql } from "../api.js";
import { emptyState, h } from "../dom.js";
import { DASH, dateTime } from "../format.js";

const QUERY = `{ ruleEvents(first: 200) { edges { node {
  id createdAt plugin action outcome message detail campaign { id name } conversion { id }
} } } }`;

export function ruleEventsView(app) {
  const body = h("div", { class: "view-body" });
  const root = h("section", { class: "view", "aria-labelledby": "view-title" },
    h("h1", { id: "view-title" }, "Rule events"),
    h("div", { class: "toolbar" }, h("button", { type: "button", onclick: () => load() }, "Refresh")),
    body);

  async function load() {
    try {
      const events = (await gql(QUERY)).ruleEvents.edges.map((e) => e.node);
      body.replaceChildren(events.length ? table(events) : emptyState("No rule events yet.",
        h("p", {}, "Attach a rule to a campaign (on the campaign's page); each time it acts, or fails to, it is listed here."),
        h("a", { href: "#/campaigns" }, "Go to the campaigns")));
      root.dataset.loaded = "true";
    } catch (error) {
      app.fail(error, body);
    }
  }

  const table = (events) => h("div", { class: "table-wrap" }, h("table", { class: "data" },
    h("caption", {}, `${events.length} latest rule events`),
    h("thead", {}, h("tr", {}, ["Time", "Campaign", "Rule", "Action", "Outcome", "Message", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, events.map((e) => h("tr", { dataset: { outcome: e.outcome } },
      h("td", { "data-label": "Time" }, dateTime(e.createdAt, app.prefs.timeZone)),
      h("td", { "data-label": "Campaign" }, h("a", { href: `#/campaigns/${e.campaign.id}` }, e.campaign.name)),
      h("td", { "data-label": "Rule" }, e.plugin),
      h("td", { "data-label": "Action" }, e.action),
      h("td", { "data-label": "Outcome" }, h("span", { class: `badge rule-${e.outcome.toLowerCase()}` }, e.outcome.toLowerCase())),
      h("td", { "data-label": "Message" }, e.message ?? e.detail?.reason ?? DASH),
      h("td", { "data-label": "Detail" }, h("code", { class: "mono params", title: JSON.stringify(e.detail, null, 1) }, JSON.stringify(e.detail)))))),
  ));

  load();
  return { root, refresh: load };
}
