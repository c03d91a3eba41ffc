// The date range and time zone pickers shared by the campaigns and campaign views.

import { h } from "./dom.js";
import { RANGES, timeZones } from "./format.js";

export function rangeToolbar(app, onChange, ...extra) {
  const prefs = app.prefs;
  const from = h("input", { type: "date", id: "range-from", value: prefs.from ?? "" });
  const to = h("input", { type: "date", id: "range-to", value: prefs.to ?? "" });
  const custom = h("div", { class: "custom-range", hidden: prefs.range !== "custom" },
    h("div", { class: "field" }, h("label", { for: "range-from" }, "From"), from),
    h("div", { class: "field" }, h("label", { for: "range-to" }, "To"), to));
  const range = h("select", { id: "range" },
    Object.entries(RANGES).map(([v, t]) => h("option", { value: v, selected: v === prefs.range }, t)));
  const zone = h("select", { id: "time-zone" },
    [...new Set(["UTC", prefs.timeZone, ...timeZones()])].map((z) => h("option", { value: z, selected: z === prefs.timeZone }, z)));
  const refresh = h("button", { type: "button", id: "refresh", onclick: () => onChange() }, "Refresh");

  const changed = () => {
    prefs.range = range.value;
    prefs.timeZone = zone.value;
    prefs.from = from.value;
    prefs.to = to.value;
    app.savePrefs();
    custom.hidden = range.value !== "custom";
    if (range.value !== "custom" || (from.value && to.value)) onChange();
  };
  for (const input of [range, zone, from, to]) input.addEventListener("change", changed);

  return h("div", { class: "toolbar", role: "group", "aria-label": "Report range" },
    h("div", { class: "field" }, h("label", { for: "range" }, "Range"), range),
    custom,
    h("div", { class: "field" }, h("label", { for: "time-zone" }, "Time zone"), zone),
    ...extra,
    refresh);
}
