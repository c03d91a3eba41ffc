// Conversions: the latest ones, with new ones arriving live over the
// conversionRecorded subscription.

import { gql } from "../api.js";
import { cut, emptyState, errorBox, h } from "../dom.js";
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

const SET_STATUS = `mutation SetStatus($id: ID!, $status: ConversionStatus!) {
  setConversionStatus(id: $id, status: $status) { conversion { ${CONVERSION_FIELDS} } userErrors { field message } }
}`;

const STATUSES = ["APPROVED", "PENDING", "REJECTED"];

export function conversionsView(app) {
  const status = h("select", { id: "conversion-status" },
    [["", "All statuses"], ["APPROVED", "Approved"], ["PENDING", "Pending"], ["REJECTED", "Rejected"]].map(([v, t]) => h("option", { value: v }, t)));

  // Approve or reject by hand (a chargeback the network never reported, say):
  // the figures and the rules follow, as for a postback.
  const statusControl = (c) => h("select", {
    class: `badge conv-${c.status.toLowerCase()}`,
    "aria-label": `Status of conversion ${c.id}`,
    title: c.rawStatus ? `sent as “${c.rawStatus}”` : null,
    onchange: async (event) => {
      const select = event.currentTarget;
      select.disabled = true;
      try {
        const { setConversionStatus: result } = await gql(SET_STATUS, { id: c.id, status: select.value });
        if (result.userErrors.length) throw new Error(result.userErrors.map((e) => e.message).join("; "));
        select.closest("tr").replaceWith(row(result.conversion));
      } catch (error) {
        select.value = c.status;
        select.disabled = false;
        select.closest("td").append(errorBox(error));
      }
    },
  }, STATUSES.map((status) => h("option", { value: status, selected: status === c.status }, status.toLowerCase())));

  const row = (c) => h("tr", { dataset: { conversionId: c.id } },
    h("td", { "data-label": `Time (${app.prefs.timeZone})`, class: "time" }, dateTime(c.createdAt, app.prefs.timeZone)),
    h("td", { "data-label": "Campaign", class: "text name" }, h("a", { href: `#/campaigns/${c.campaign.id}` }, c.campaign.name)),
    h("td", { "data-label": "Status" }, statusControl(c)),
    h("td", { "data-label": "Payout", class: "num" }, money(c.payout, c.currency)),
    h("td", { "data-label": "Goal" }, c.goal ? cut(c.goal) : DASH),
    h("td", { "data-label": "Source" }, c.click.source ? cut(c.click.source) : DASH),
    h("td", { "data-label": "Creative" }, c.click.creative ? cut(c.click.creative) : DASH),
    h("td", { "data-label": "Country" }, c.click.country ?? DASH),
    h("td", { "data-label": "Device" }, c.click.deviceType.toLowerCase()),
    h("td", { "data-label": "Click id", class: "mono" }, cut(c.click.clickId)));

  const { root, log, load } = logView(app, {
    title: "Conversions",
    extra: [app.liveBadge()],
    filters: [["Status", status]],
    table: {
      caption: "Latest conversions first; new ones appear as they are recorded",
      zoned: ["Time"],
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
    const shown = log.tbody.querySelector(`[data-conversion-id="${CSS.escape(c.id)}"]`);
    const fresh = row(c);
    fresh.classList.add("fresh");
    if (status.value && c.status !== status.value) shown?.remove();
    else if (shown) shown.replaceWith(fresh); // a status change: the list is by creation time
    else log.tbody.prepend(fresh);
    log.show();
  });
  // Reconnected: what arrived while offline came with no event.
  const offLive = app.onLive(() => root.dataset.loaded && load());
  return { root, refresh: load, dispose: () => { off(); offLive(); } };
}
