// The postback log: every postback with its outcome and message, by outcome.

import { gql } from "../api.js";
import { cut, emptyState, h } from "../dom.js";
import { DASH, dateTime } from "../format.js";
import { logView } from "../log.js";

const QUERY = `query Postbacks($outcome: PostbackOutcome, $after: String) {
  postbacks(first: 100, outcome: $outcome, after: $after) {
    edges { node { id receivedAt outcome message clickId params remoteAddr status conversion { id status } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const OUTCOMES = ["CREATED", "UPDATED", "DUPLICATE", "INVALID", "FORBIDDEN", "UNKNOWN_CLICK"];
const label = (outcome) => outcome.toLowerCase().replace("_", " ");
// The status this postback left its conversion in, and the conversion's own
// (its latest) when a later postback or a hand changed it since.
function conversionNote({ status, conversion }) {
  if (!conversion) return DASH;
  const now = conversion.status.toLowerCase();
  if (!status) return `conversion ${conversion.id} (now ${now})`;
  const then = status.toLowerCase();
  return `conversion ${conversion.id} (${then}${then === now ? "" : `; now ${now}`})`;
}
const query = (params) => new URLSearchParams(Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : String(v)])).toString();

export function postbacksView(app) {
  const outcome = h("select", { id: "postback-outcome" },
    h("option", { value: "" }, "All outcomes"), OUTCOMES.map((o) => h("option", { value: o }, label(o))));
  const { root, load } = logView(app, {
    title: "Postback log",
    hint: "Every request to /postback, whatever became of it: filter by outcome to see why a conversion did not count.",
    filters: [["Outcome", outcome]],
    table: {
      caption: "Latest postbacks first",
      zoned: ["Received"],
      headers: ["Received", "Outcome", "Message", "Click id", "From", "Parameters"],
      fetchPage: async (after) => (await gql(QUERY, { outcome: outcome.value || null, after })).postbacks,
      row: (p) => h("tr", { dataset: { outcome: p.outcome } },
        h("td", { "data-label": `Received (${app.prefs.timeZone})`, class: "time" }, dateTime(p.receivedAt, app.prefs.timeZone)),
        h("td", { "data-label": "Outcome" }, h("span", { class: `badge outcome-${p.outcome.toLowerCase()}` }, label(p.outcome))),
        h("td", { "data-label": "Message", class: "text" }, p.message ?? conversionNote(p)),
        h("td", { "data-label": "Click id", class: "mono" }, p.clickId ? cut(p.clickId) : DASH),
        h("td", { "data-label": "From", class: "mono" }, p.remoteAddr ?? DASH),
        h("td", { "data-label": "Parameters" }, h("code", { class: "mono params", title: query(p.params) }, query(p.params)))),
      empty: () => emptyState(
        outcome.value ? `No postbacks with outcome “${label(outcome.value)}”.` : "No postbacks received yet.",
        h("p", {}, "Give the network a campaign's postback URL; each call it makes shows up here, refused ones too.")),
    },
  });
  return { root, refresh: load };
}
