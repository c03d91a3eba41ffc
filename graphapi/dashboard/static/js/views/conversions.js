// Conversions: the latest ones, with new ones arriving live over the
// conversionRecorded subscription.

import { gql } from "../api.js";
import { emptyState, h } from "../dom.js";
import { DASH, dateTime, money } from "../format.js";

export const CONVERSION_FIELDS = `id createdAt updatedAt status rawStatus goal txid payout currency
  campaign { id name }
  click { clickId source creative country deviceType subid }`;

const QUERY = `query Conversions($status: ConversionStatus) {
  conversions(first: 100, status: $status) { edges { node { ${CONVERSION_FIELDS} } } }
}`;

const COLUMNS = ["Time", "Campaign", "Status", "Payout", "Goal", "Source", "Creative", "Country", "Device", "Click id"];

export function conversionsView(app) {
  const status = h("select", { id: "conversion-status", onchange: () => load() },
    [["", "All statuses"], ["APPROVED", "Approved"], ["PENDING", "Pending"], ["REJECTED", "Rejected"]].map(([v, t]) => h("option", { value: v }, t)));
  const tbody = h("tbody", { id: "conversion-rows" });
  const table = h("div", { class: "table-wrap" }, h("table", { class: "data" },
    h("caption", {}, "Latest conversions, newest first; new ones appear as they are recorded"),
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", class: c === "Payout" ? "num" : null }, c)))),
    tbody));
  const body = h("div", { class: "view-body" });
  const root = h("section", { class: "view", "aria-labelledby": "view-title" },
    h("div", { class: "view-head" }, h("h1", { id: "view-title" }, "Conversions"), app.liveBadge()),
    h("div", { class: "toolbar" }, h("div", { class: "field" }, h("label", { for: "conversion-status" }, "Status"), status)),
    body);

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

  const show = () => {
    body.replaceChildren(tbody.children.length ? table : emptyState("No conversions yet.",
      h("p", {}, "Give your affiliate network the campaign's postback URL (on each campaign's page); conversions appear here the moment they are recorded."),
      h("a", { href: "#/campaigns" }, "Go to the campaigns")));
  };

  async function load() {
    try {
      const data = await gql(QUERY, { status: status.value || null });
      tbody.replaceChildren(...data.conversions.edges.map((e) => row(e.node)));
      show();
      root.dataset.loaded = "true";
    } catch (error) {
      app.fail(error, body);
    }
  }

  const off = app.onConversion(({ conversionRecorded: c }) => {
    if (!root.dataset.loaded) return;
    tbody.querySelector(`[data-conversion-id="${CSS.escape(c.id)}"]`)?.remove();
    if (status.value && c.status !== status.value) return;
    const fresh = row(c);
    fresh.classList.add("fresh");
    tbody.prepend(fresh);
    while (tbody.children.length > 100) tbody.lastElementChild.remove();
    show();
  });
  // Reconnected: what arrived while offline came with no event.
  const offLive = app.onLive(() => root.dataset.loaded && load());
  load();
  return { root, refresh: load, dispose: () => { off(); offLive(); } };
}
