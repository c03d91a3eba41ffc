// Rule events: what each rule did and when, failures included.

import { gql } from "../api.js";
import { emptyState, h } from "../dom.js";
import { DASH, dateTime } from "../format.js";
import { logView } from "../log.js";

const QUERY = `query RuleEvents($campaignId: ID, $after: String) { ruleEvents(campaignId: $campaignId, first: 100, after: $after) {
  edges { node { id createdAt plugin action outcome message detail campaign { id name } conversion { id } } }
  pageInfo { hasNextPage endCursor }
} }`;

// What an event did, said from its detail when the rule left no message.
function said({ action, detail = {}, outcome }) {
  const done = outcome === "APPLIED";
  switch (action) {
    case "add_to_blacklist": return detail.source ? `${done ? "blacklisted" : "did not blacklist"} ${detail.source}` : null;
    case "add_to_whitelist": return detail.source ? `${done ? "whitelisted" : "did not whitelist"} ${detail.source}` : null;
    case "pause_campaign": return `${done ? "paused the campaign" : "did not pause the campaign"}${detail.reason ? `: ${detail.reason}` : ""}`;
    case "change_budget": return detail.to ? `daily budget ${detail.from ?? "none"} → ${detail.to}` : null;
    case "send_webhook": return detail.url ? `${detail.method ?? "POST"} ${detail.url}${detail.status ? ` answered ${detail.status}` : ""}` : null;
    default: return detail.reason ?? null;
  }
}

// All rule events, or (with `campaignId`) one campaign's.
export function ruleEventsView(app, campaignId = null) {
  const { root, load } = logView(app, {
    title: campaignId ? "Rule events of one campaign" : "Rule events",
    extra: campaignId ? [h("a", { href: "#/rule-events" }, "All campaigns")] : [],
    table: {
      caption: "What the rules did, latest first",
      zoned: ["Time"],
      headers: ["Time", "Campaign", "Rule", "Action", "Outcome", "Message", "Detail"],
      fetchPage: async (after) => (await gql(QUERY, { campaignId, after })).ruleEvents,
      row: (e) => h("tr", { dataset: { outcome: e.outcome } },
        h("td", { "data-label": `Time (${app.prefs.timeZone})`, class: "time" }, dateTime(e.createdAt, app.prefs.timeZone)),
        h("td", { "data-label": "Campaign", class: "text name" }, h("a", { href: `#/campaigns/${e.campaign.id}` }, e.campaign.name)),
        h("td", { "data-label": "Rule" }, e.plugin),
        h("td", { "data-label": "Action" }, e.action),
        h("td", { "data-label": "Outcome" }, h("span", { class: `badge rule-${e.outcome.toLowerCase()}` }, e.outcome.toLowerCase())),
        h("td", { "data-label": "Message", class: "text" }, e.message ?? said(e) ?? DASH),
        h("td", { "data-label": "Detail" }, h("code", { class: "mono params", title: JSON.stringify(e.detail, null, 1) }, JSON.stringify(e.detail)))),
      empty: () => emptyState("No rule events yet.",
        h("p", {}, "Attach a rule to a campaign (on the campaign's page); each time it acts, or fails to, it is listed here."),
        h("a", { href: "#/campaigns" }, "Go to the campaigns")),
    },
  });
  return { root, refresh: load };
}
