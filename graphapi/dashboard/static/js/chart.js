// The campaign chart (uPlot, vendored): clicks and conversions on the left
// axis, revenue on the right, per local day or hour. Loaded on demand, so the
// campaigns table does not wait for the chart library.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { money, shortMoney } from "./format.js";

export function drawChart(holder, period, rows, currency, range) {
  const step = period === "DAY" ? 86400 : 3600;
  const at = (r) => (period === "DAY" ? Date.parse(`${r.day}T00:00:00Z`) : Date.parse(r.hour)) / 1000;
  const start = period === "DAY" ? Date.parse(`${range.first}T00:00:00Z`) / 1000 : Date.parse(range.since) / 1000;
  const end = period === "DAY" ? Date.parse(`${range.last}T00:00:00Z`) / 1000 : Date.parse(range.until) / 1000 - step;
  // Every day or hour of the range, so quiet ones show as zero rather than vanish.
  const byTime = new Map(rows.map((r) => [at(r), r.stats]));
  const xs = [];
  for (let x = start; x <= end; x += step) xs.push(x);
  for (const x of byTime.keys()) if (!xs.includes(x)) xs.push(x);
  xs.sort((a, b) => a - b);
  const value = (x, key) => Number(byTime.get(x)?.[key] ?? 0);
  const data = [xs, xs.map((x) => value(x, "clicks")), xs.map((x) => value(x, "conversions")), xs.map((x) => value(x, "revenue"))];
  const timeZone = range.timeZone;
  holder.replaceChildren();
  const options = {
    width: Math.max(holder.clientWidth, 280),
    height: 260,
    // Days are dates already local to the report's zone; hours are instants shown in it.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), period === "DAY" ? "Etc/UTC" : timeZone),
    scales: { x: { time: true, range: (u, min, max) => (min === max ? [min - step, max + step] : [min, max]) }, money: {} },
    series: [
      { label: period === "DAY" ? "Day" : "Hour" },
      { label: "Clicks", stroke: "#2563eb", width: 2 },
      { label: "Conversions", stroke: "#16a34a", width: 2 },
      // Dashed, so it stays told apart from clicks where the two lines meet.
      { label: "Revenue", stroke: "#d97706", width: 2, dash: [8, 5], scale: "money", value: (u, v) => (v === null ? "—" : money(v, currency)) },
    ],
    axes: [
      {},
      { label: "Clicks / conversions" },
      {
        scale: "money", side: 1, grid: { show: false }, label: `Revenue (${currency})`,
        values: (u, ticks) => ticks.map((t) => shortMoney(t, currency)),
        // As wide as its longest tick, so none is cut (about 7 px a character, and the label).
        size: (u, values) => 40 + 7 * Math.max(4, ...(values ?? []).map((v) => String(v).length)),
      },
    ],
  };
  const plot = new uPlot(options, data, holder);
  const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(holder.clientWidth, 280), height: 260 }));
  resize.observe(holder);
  return { destroy: () => { resize.disconnect(); plot.destroy(); } };
}
