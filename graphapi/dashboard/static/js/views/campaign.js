// One campaign: its links, a chart per day or hour, a report by any dimension
// with drill-down, its offers, landers and rules (each editable).

import { gql } from "../api.js";
import { copyField, cut, debounce, emptyState, errorBox, h, latestOnly, sortableTable } from "../dom.js";
import { count, dateTime, money, pct } from "../format.js";
import { campaignForm, landerForm, offerForm, openDialog, ruleForm } from "../forms.js";
import { STATS_FIELDS, statsColumns } from "../stats.js";
import { rangeToolbar } from "../toolbar.js";
import { pauseButton } from "./campaigns.js";

const CAMPAIGN = `query Campaign($id: ID!, $since: DateTime, $until: DateTime) {
  campaign(id: $id) {
    id name status trafficSource costModel costValue currency dailyBudget fallbackUrl
    sourceWhitelist sourceBlacklist trackingUrl postbackUrl createdAt
    offers { id name url weight payout active }
    landers { id name url weight active }
    rules { id plugin config enabled }
    stats(since: $since, until: $until) { ${STATS_FIELDS} }
  }
}`;

// ReportDimension -> the ReportRow field that carries it.
const DIMENSIONS = {
  COUNTRY: "Country", DEVICE_TYPE: "Device", OS: "OS", BROWSER: "Browser", SOURCE: "Source",
  CREATIVE: "Creative", SUBID: "Subid", ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`SUB${i + 1}`, `Sub${i + 1}`])),
  OFFER: "Offer", LANDER: "Lander", GOAL: "Goal", DAY: "Day", HOUR: "Hour",
};
const rowField = (dimension) => dimension.toLowerCase().replace(/_(\w)/g, (_, c) => c.toUpperCase());
const selection = (dimension) => (["OFFER", "LANDER", "CAMPAIGN"].includes(dimension) ? `${rowField(dimension)} { id name }` : rowField(dimension));

// A drill-down also asks for the report by its first dimension alone: each
// group's own figures (unique clicks and ratios do not add up from its rows).
function reportQuery(dimensions) {
  const range = "campaignId: $campaignId, since: $since, until: $until, timezone: $timezone";
  return `query Report($groupBy: [ReportDimension!]!, $campaignId: ID, $since: DateTime, $until: DateTime, $timezone: String) {
    report(groupBy: $groupBy, ${range}) {
      rows { ${dimensions.map(selection).join(" ")} stats { ${STATS_FIELDS} } }
      totals { ${STATS_FIELDS} }
    }
    ${dimensions.length > 1 ? `groups: report(groupBy: [${dimensions[0]}], ${range}) { rows { ${selection(dimensions[0])} stats { ${STATS_FIELDS} } } }` : ""}
  }`;
}

// By goal, the clicks are a row of their own (a click has no goal), apart from
// the conversions whose postback named no goal.
function dimensionValue(row, dimension, timeZone) {
  const value = row[rowField(dimension)];
  if (dimension === "GOAL" && value === "") return "(no goal)";
  if (dimension === "GOAL" && (value === null || value === undefined)) return "(clicks)";
  if (value === null || value === undefined || value === "") return null;
  if (dimension === "HOUR") return dateTime(value, timeZone);
  if (typeof value === "object") return value.name;
  return String(value);
}

export function campaignView(app, id) {
  const body = h("div", { class: "view-body" });
  const title = h("h1", { id: "view-title" }, "Campaign");
  const root = h("section", { class: "view", "aria-labelledby": "view-title" },
    h("p", { class: "crumbs" }, h("a", { href: "#/campaigns" }, "← Campaigns")),
    title,
    rangeToolbar(app, () => load()),
    body);
  let chart = null;
  // The report's choices, kept when the view draws it again (new figures).
  let reportState = { dimension: "SOURCE", drill: "", sortKey: "clicks", descending: true };
  let chartPeriod = null; // per hour for a one-day range, per day otherwise, until chosen

  async function load() {
    const range = app.range();
    try {
      const { campaign } = await gql(CAMPAIGN, { id, since: range.since, until: range.until });
      if (!campaign) {
        body.replaceChildren(emptyState("No such campaign.", h("a", { href: "#/campaigns" }, "Back to the campaigns")));
        root.dataset.loaded = "true";
        return;
      }
      title.textContent = campaign.name;
      document.title = `${campaign.name} · graphapi`;
      body.replaceChildren(...render(campaign));
      root.dataset.loaded = "true";
    } catch (error) {
      app.fail(error, body);
    }
  }

  function render(c) {
    const s = c.stats;
    const links = h("div", { class: "card links" },
      copyField("Tracking URL", c.trackingUrl, "tracking-url"),
      copyField("Postback URL", c.postbackUrl, "postback-url"),
      h("p", { class: "hint" }, "Buy traffic with the tracking URL; give the postback URL to the affiliate network, with its own macros in place of the values."));
    const kpis = h("dl", { class: "kpis" },
      [["Clicks", count(s.clicks)], ["Unique", count(s.uniqueClicks)], ["Conversions", count(s.conversions)], ["CR", pct(s.cr)],
        ["Revenue", money(s.revenue, s.currency)], ["Cost", money(s.cost, s.currency)], ["Profit", money(s.profit, s.currency)],
        ["ROI", pct(s.roi)], ["EPC", money(s.epc, s.currency)], ["CPC", money(s.cpc, s.currency)],
        ["Pending", `${count(s.pendingConversions)} · ${money(s.pendingRevenue, s.currency)}`], ["Rejected", count(s.rejectedConversions)]]
        .map(([k, v]) => h("div", { dataset: { kpi: k } }, h("dt", {}, k), h("dd", { class: v.length > 10 ? "long" : null }, v))));
    const header = h("div", { class: "card campaign-head" },
      h("p", {},
        h("span", { class: `badge status-${c.status.toLowerCase()}` }, c.status.toLowerCase()), " ",
        c.trafficSource ? `Source: ${c.trafficSource} · ` : "",
        `Cost: ${c.costModel === "NONE" ? "none" : `${c.costModel} ${money(c.costValue, c.currency)}`}`,
        c.dailyBudget ? ` · Daily budget ${money(c.dailyBudget, c.currency)}` : ""),
      h("div", { class: "actions" },
        pauseButton(c, { onDone: load, onError: (error) => body.prepend(errorBox(error)) }),
        h("button", { type: "button", onclick: () => openDialog(campaignForm(app, c, load)) }, "Edit campaign")));

    if (s.clicks === 0 && s.conversions === 0) {
      return [header, links, kpis, emptyState("No clicks yet in this range.",
        h("p", {}, "Send traffic to your tracking URL above; figures appear here as clicks arrive.")), ...assets(c)];
    }
    return [header, links, kpis, chartCard(c), reportCard(c), ...assets(c)];
  }

  function chartCard(c) {
    const { first, last } = app.range();
    const chosen = chartPeriod ?? (first === last ? "HOUR" : "DAY");
    const period = h("select", { id: "chart-period" }, [["DAY", "Per day"], ["HOUR", "Per hour"]].map(([v, t]) => h("option", { value: v, selected: v === chosen }, t)));
    const holder = h("div", { class: "chart", role: "img", "aria-label": "Clicks, conversions and revenue over time" });
    const latest = latestOnly();
    const draw = async (event) => {
      if (event) chartPeriod = period.value;
      const range = app.range();
      const mine = latest.next();
      try {
        const { report } = await gql(reportQuery([period.value]), {
          groupBy: [period.value], campaignId: c.id, since: range.since, until: range.until, timezone: range.timeZone,
        });
        const { drawChart } = await import("../chart.js");
        if (!latest.is(mine)) return;
        chart?.destroy();
        chart = drawChart(holder, period.value, report.rows, c.currency, range);
      } catch (error) {
        if (latest.is(mine)) holder.replaceChildren(errorBox(error));
      }
    };
    period.addEventListener("change", draw);
    draw();
    return h("div", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Over time"),
        h("div", { class: "field inline" }, h("label", { for: "chart-period" }, "Chart"), period)),
      holder);
  }

  function reportCard(c) {
    const options = (selected, none) => [none ? h("option", { value: "" }, none) : null,
      ...Object.entries(DIMENSIONS).map(([v, t]) => h("option", { value: v, selected: v === selected }, t))];
    const dimension = h("select", { id: "report-dimension" }, options(reportState.dimension));
    const drill = h("select", { id: "report-drill" }, options(reportState.drill, "(no drill-down)"));
    const table = h("div", { "aria-live": "polite" });
    const latest = latestOnly();
    const draw = async () => {
      reportState = { ...reportState, dimension: dimension.value, drill: drill.value === dimension.value ? "" : drill.value };
      const groupBy = [reportState.dimension, reportState.drill].filter(Boolean);
      const range = app.range();
      const mine = latest.next();
      try {
        const { report, groups } = await gql(reportQuery(groupBy), {
          groupBy, campaignId: c.id, since: range.since, until: range.until, timezone: range.timeZone,
        });
        if (latest.is(mine)) table.replaceChildren(reportTable(report, groups, groupBy, range.timeZone));
      } catch (error) {
        if (latest.is(mine)) table.replaceChildren(errorBox(error));
      }
    };
    dimension.addEventListener("change", draw);
    drill.addEventListener("change", draw);
    draw();
    return h("div", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Report"),
        h("div", { class: "toolbar" },
          h("div", { class: "field" }, h("label", { for: "report-dimension" }, "Group by"), dimension),
          h("div", { class: "field" }, h("label", { for: "report-drill" }, "Then by"), drill))),
      table);
  }

  function reportTable(report, groups, groupBy, timeZone) {
    if (!report.rows.length) return emptyState("Nothing to report in this range.");
    const [first, second] = groupBy;
    const label = (row, d) => dimensionValue(row, d, timeZone) ?? "(none)";
    // Days and hours are the report's time zone's.
    const heading = (d) => (d === "DAY" || d === "HOUR" ? `${DIMENSIONS[d]} (${timeZone})` : DIMENSIONS[d]);
    const stats = statsColumns((r) => r.stats);
    const order = {
      sortKey: reportState.sortKey,
      descending: reportState.descending,
      onSort: (sortKey, descending) => { reportState = { ...reportState, sortKey, descending }; },
    };
    const caption = `By ${DIMENSIONS[first].toLowerCase()}${second ? `, then by ${DIMENSIONS[second].toLowerCase()}` : ""}`;
    if (!second) {
      return sortableTable([{ key: "value", label: heading(first), text: "text", value: (r) => label(r, first), render: (r) => label(r, first) }, ...stats],
        report.rows, { ...order, caption, total: { stats: report.totals } });
    }
    // Drill-down: each first-dimension value with its own figures, and its
    // rows by the second beneath it (open at first when there are few).
    const inner = new Map();
    for (const row of report.rows) {
      const key = label(row, first);
      if (!inner.has(key)) inner.set(key, []);
      inner.get(key).push(row);
    }
    const value = (r) => label(r, "group" in r ? first : second);
    return sortableTable([{ key: "value", label: `${heading(first)} › ${heading(second)}`, text: "text", value, render: value }, ...stats],
      groups.rows.map((row) => ({ ...row, group: label(row, first) })), {
        ...order, caption, total: { stats: report.totals },
        drill: { key: (row) => row.group, rows: (row) => inner.get(row.group) ?? [], open: groups.rows.length <= 5 },
      });
  }

  function assets(c) {
    const editButton = (label, form) => h("button", { type: "button", class: "small", onclick: () => openDialog(form()) }, label);
    const active = (x) => h("span", { class: `badge ${x.active ? "status-active" : "status-paused"}` }, x.active ? "active" : "off");
    const offers = h("div", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Offers"), editButton("Add offer", () => offerForm(app, c, null, load))),
      sortableTable([
        { key: "name", label: "Offer", text: "text", value: (o) => o.name, render: (o) => o.name },
        { key: "url", label: "URL", render: (o) => cut(o.url, "mono url") },
        { key: "weight", label: "Weight", numeric: true, value: (o) => o.weight, render: (o) => count(o.weight) },
        { key: "payout", label: "Payout", numeric: true, value: (o) => Number(o.payout), render: (o) => money(o.payout, c.currency) },
        { key: "active", label: "State", value: (o) => o.active, render: active },
        { key: "edit", label: "", render: (o) => editButton(`Edit`, () => offerForm(app, c, o, load)) },
      ], c.offers, { sortKey: "weight" }));
    const landers = h("div", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Landers"), editButton("Add lander", () => landerForm(app, c, null, load))),
      c.landers.length
        ? sortableTable([
          { key: "name", label: "Lander", text: "text", value: (l) => l.name, render: (l) => l.name },
          { key: "url", label: "URL", render: (l) => cut(l.url, "mono url") },
          { key: "weight", label: "Weight", numeric: true, value: (l) => l.weight, render: (l) => count(l.weight) },
          { key: "active", label: "State", value: (l) => l.active, render: active },
          { key: "edit", label: "", render: (l) => editButton("Edit", () => landerForm(app, c, l, load)) },
        ], c.landers, { sortKey: "weight" })
        : emptyState("No landers: visitors go straight to an offer.", h("p", {}, "Add a lander to send them to a prelander first.")));
    const rules = h("div", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Rules"),
        h("div", { class: "actions" }, h("a", { href: `#/rule-events/${c.id}` }, "What the rules did"), editButton("Add rule", () => ruleForm(app, c, null, load)))),
      c.rules.length
        ? sortableTable([
          { key: "plugin", label: "Rule plugin", value: (r) => r.plugin, render: (r) => r.plugin },
          { key: "config", label: "Config", render: (r) => h("code", { class: "mono params", title: JSON.stringify(r.config, null, 1) }, JSON.stringify(r.config)) },
          { key: "enabled", label: "State", value: (r) => r.enabled, render: (r) => h("span", { class: `badge ${r.enabled ? "status-active" : "status-paused"}` }, r.enabled ? "enabled" : "disabled") },
          { key: "edit", label: "", render: (r) => editButton("Edit", () => ruleForm(app, c, r, load)) },
        ], c.rules, { sortKey: "plugin", descending: false })
        : emptyState("No rules attached.", h("p", {}, "Rules act for you on each conversion: pause on a budget, blacklist a source, call a webhook.")));
    return [offers, landers, rules];
  }

  load();
  const reload = debounce(load, 1000);
  const off = app.onConversion((data) => data.conversionRecorded.campaign.id === id && reload());
  return { root, refresh: load, dispose: () => { off(); chart?.destroy(); } };
}
