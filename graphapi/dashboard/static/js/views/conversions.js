// Conversions: the latest ones, with new ones arriving live over the
// conversionRecorded subscription.

import { gql } from "../api.js";
import { emptyState, h } from "../dom.js";
import { DASH, dateTime, money } from "../format.js";
import { logView } from "../log.js";

export const CONVERSION_FIELDS = `id createdAt updatedAt status rawStatus goal txid payout currency
  campaign { id name }
  click { clickId source creative country deviceType subid }`;

const QUERY = `query Conversions($status: ConversionStatus, $after: String) {
  conversions(first: 100, status: $status, after: $after) {
    edges { node { ${CONVERSION_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export function conversionsView(app) {
  const status = h("select", { id: "conversion-status" },
    [["", "All statuses"], ["APPROVED", "Approved"], ["PENDING", "Pending"], ["REJECTED", "Rejected"]].map(([v, t]) => h("option", { value: v }, t)));

  const row = (c) => h("tr", { dataset: { conversionId: c.id } },
    h("td", { "data-label": "Time" }, dateTime(c.createdAt, app.prefs.timeZone)),
    h("td", { "data-label": "Campaign" }, h("a", { href: `#/campaigns/${c.campaign.id}` }, c.campaign.name)),
    h("td", { "data-label": "Status" }, h("span", { class: `badge conv-${c.status.toLowerCase()}`, title: c.rawStatus ? `sent as “${c.rawStatus}”` : null }, c.status.toLowerCase())),
    h("td", { "data-label": "Payout", class: "num" }, money(c.payout, c.currency)),
    h("td", { "data-label": "Goal" }, c.goal || DASH),
    h("td", { "data-label": "Source" }, c.click.source ?? DASH),
    h("td", { "data-label": "Creative" }, c.click.creative ?? DASH),
    h("td", { "data-label": "Country" }, c.click.country ?? DASH),
    h("td", { "data-label": "Device" }, c.click.deviceType.toLowerCase()),
    h("td", { "data-label": "Click id", class: "mono" }, c.click.clickId));

  const { root, log, load } = logView(app, {
    title: "Conversions",
    extra: [app.liveBadge()],
    filters: [["Status", status]],
    table: {
      caption: "Latest conversions first; new ones appear as they are recorded",
      headers: ["Time", "Campaign", "Status", "Payout", "Goal", "Source", "Creative", "Country", "Device", "Click id"],
      numeric: ["Payout"],
      fetchPage: async (after) => (await gql(QUERY, { status: status.value || null, after })).conversions,
      row,
      empty: () => emptyState("No conversions yet.",
        h("p", {}, "Give your affiliate network the campaign's postback URL (on each campaign's page); conversions appear here the moment they are recorded."),
        h("a", { href: "#/campaigns" }, "Go to the campaigns")),
    },
  });
  log.tbody.id = "conversion-rows";

  const off = app.onConversion(({ conversionRecorded: c }) => {
    if (!root.dataset.loaded) return;
    log.tbody.querySelector(`[data-conversion-id="${CSS.escape(c.id)}"]`)?.remove();
    if (status.value && c.status !== status.value) return;
    const fresh = row(c);
    fresh.classList.add("fresh");
    log.tbody.prepend(fresh);
    log.show();
  });
  // Reconnected: what arrived while offline came with no event.
  const offLive = app.onLive(() => root.dataset.loaded && load());
  return { root, refresh: load, dispose: () => { off(); offLive(); } };
}
