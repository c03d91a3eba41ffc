// The figures of a Stats object: which the tables show and how each is formatted.

import { count, money, pct } from "./format.js";

export const STATS_FIELDS = `
  clicks uniqueClicks botClicks landerClicks conversions pendingConversions rejectedConversions
  revenue pendingRevenue cost profit roi cr epc cpa cpc currency`;

const num = (v) => (v === null || v === undefined ? null : Number(v));

// Columns for sortableTable, given how to reach a row's Stats.
export function statsColumns(stats) {
  const column = (key, label, format, kind = "count") => ({
    key,
    label,
    numeric: true,
    value: (row) => num(stats(row)[key]),
    render: (row) => {
      const s = stats(row);
      const text = format(s[key], s.currency);
      const cls = kind === "signed" && num(s[key]) < 0 ? "negative" : null;
      return cls ? Object.assign(document.createElement("span"), { className: cls, textContent: text }) : text;
    },
  });
  return [
    column("clicks", "Clicks", count),
    column("uniqueClicks", "Unique", count),
    column("conversions", "Conv.", count),
    column("cr", "CR", pct),
    column("revenue", "Revenue", money),
    column("cost", "Cost", money),
    column("profit", "Profit", money, "signed"),
    column("roi", "ROI", pct, "signed"),
    column("epc", "EPC", money),
  ];
}
