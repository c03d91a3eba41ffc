// Campaigns: every campaign's figures over the chosen range, sortable; pause and resume.

import { gql } from "../api.js";
import { debounce, emptyState, errorBox, h, sortableTable } from "../dom.js";
import { STATS_FIELDS, statsColumns } from "../stats.js";
import { rangeToolbar } from "../toolbar.js";

const QUERY = `query Campaigns($since: DateTime, $until: DateTime, $status: CampaignStatus) {
  campaigns(first: 500, status: $status) {
    edges { node { id name status trafficSource currency trackingUrl stats(since: $since, until: $until) { ${STATS_FIELDS} } } }
  }
}`;

const SET_STATUS = `mutation SetStatus($input: UpdateCampaignInput!) {
  updateCampaign(input: $input) { campaign { id status } userErrors { field message } }
}`;

// Pause or resume a campaign, wherever it is shown; nothing for an archived one.
export function pauseButton(campaign, { onDone, onError }) {
  if (campaign.status === "ARCHIVED") return "";
  const next = campaign.status === "ACTIVE" ? "PAUSED" : "ACTIVE";
  const verb = next === "PAUSED" ? "Pause" : "Resume";
  const button = h("button", {
    type: "button",
    class: "small",
    "aria-label": `${verb} ${campaign.name}`,
    onclick: async () => {
      button.disabled = true;
      try {
        const { updateCampaign } = await gql(SET_STATUS, { input: { id: campaign.id, status: next } });
        if (updateCampaign.userErrors.length) throw new Error(updateCampaign.userErrors.map((e) => e.message).join("; "));
        await onDone();
      } catch (error) {
        button.disabled = false;
        onError(error);
      }
    },
  }, verb);
  return button;
}

const STATUS_FILTERS = [["", "Active and paused"], ["ACTIVE", "Active"], ["PAUSED", "Paused"], ["ARCHIVED", "Archived"]];

export function campaignsView(app) {
  const status = h("select", { id: "status-filter", onchange: () => load() },
    STATUS_FILTERS.map(([v, t]) => h("option", { value: v, selected: v === (app.prefs.status ?? "") }, t)));
  const body = h("div", { class: "view-body", "aria-live": "polite" });
  const root = h(
    "section",
    { class: "view", "aria-labelledby": "view-title" },
    h("div", { class: "view-head" },
      h("h1", { id: "view-title" }, "Campaigns"),
      h("a", { class: "button primary", href: "#/campaigns/new" }, "New campaign")),
    rangeToolbar(app, () => load(), h("div", { class: "field" }, h("label", { for: "status-filter" }, "Status"), status)),
    body,
  );

  async function load() {
    app.prefs.status = status.value;
    app.savePrefs();
    const range = app.range();
    body.setAttribute("aria-busy", "true");
    try {
      const data = await gql(QUERY, { since: range.since, until: range.until, status: status.value || null });
      let campaigns = data.campaigns.edges.map((e) => e.node);
      if (!status.value) campaigns = campaigns.filter((c) => c.status !== "ARCHIVED");
      body.replaceChildren(render(campaigns));
      root.dataset.loaded = "true";
      performance.mark("graphapi:campaigns-shown"); // how long the page took to be usable
    } catch (error) {
      app.fail(error, body);
    } finally {
      body.removeAttribute("aria-busy");
    }
  }

  function render(campaigns) {
    if (!campaigns.length) {
      return emptyState(
        status.value ? "No campaigns with this status." : "No campaigns yet.",
        h("p", {}, "Create a campaign with at least one offer; you get a tracking link to buy traffic with."),
        h("a", { class: "button primary", href: "#/campaigns/new" }, "Create your first campaign"),
      );
    }
    const columns = [
      {
        key: "name", label: "Campaign", text: "text name", value: (c) => c.name.toLowerCase(),
        render: (c) => h("div", {}, h("a", { href: `#/campaigns/${c.id}` }, c.name),
          c.trafficSource ? h("small", { class: "muted" }, ` ${c.trafficSource}`) : null),
      },
      {
        key: "status", label: "Status", value: (c) => c.status,
        render: (c) => h("span", { class: `badge status-${c.status.toLowerCase()}` }, c.status.toLowerCase()),
      },
      ...statsColumns((c) => c.stats),
      {
        key: "actions", label: "Actions",
        render: (c) => pauseButton(c, { onDone: load, onError: (error) => body.prepend(errorBox(error)) }),
      },
    ];
    return sortableTable(columns, campaigns, {
      sortKey: "clicks",
      caption: `${campaigns.length} campaign${campaigns.length === 1 ? "" : "s"}, ${app.rangeLabel()}`,
      rowProps: (c) => ({ dataset: { campaignId: c.id } }),
    });
  }

  load();
  // New conversions move the figures: reload, at most once a second.
  const off = app.onConversion(debounce(load, 1000));
  return { root, refresh: load, dispose: off };
}
