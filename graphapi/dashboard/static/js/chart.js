// The campaign chart (uPlot, vendored): clicks and conversions on the left
// axis, revenue on the right, per local day or hour. Loaded on demand, so the
// campaigns table does not wait for the chart library.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { money } from "./format.js";

export function drawChart(holder, period, rows, currency, timeZone) {
  const points = rows
    .map((r) => [period === "DAY" ? Date.parse(`${r.day}T00:00:00Z`) / 1000 : Date.parse(r.hour) / 1000, r.stats])
    .sort((a, b) => a[0] - b[0]);
  const data = [
    points.map(([x]) => x),
    points.map(([, s]) => s.clicks),
    points.map(([, s]) => s.conversions),
    points.map(([, s]) => Number(s.revenue)),
  ];
  holder.replaceChildren();
  const options = {
    width: Math.max(holder.clientWidth, 280),
    height: 260,
    // Days are dates already local to the report's zone; hours are instants shown in it.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), period === "DAY" ? "Etc/UTC" : timeZone),
    scales: { x: { time: true }, money: {} },
    series: [
      { label: period === "DAY" ? "Day" : "Hour" },
      { label: "Clicks", stroke: "#2563eb", width: 2, points: { show: true } },
      { label: "Conversions", stroke: "#16a34a", width: 2, points: { show: true } },
      { label: "Revenue", stroke: "#d97706", width: 2, scale: "money", value: (u, v) => (v === null ? "—" : money(v, currency)), points: { show: true } },
    ],
    axes: [
      {},
      { label: "Clicks / conversions" },
      { scale: "money", side: 1, grid: { show: false }, values: (u, ticks) => ticks.map((t) => money(t, currency)), size: 80 },
    ],
  };
  const plot = new uPlot(options, data, holder);
  const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(holder.clientWidth, 280), height: 260 }));
  resize.observe(holder);
  return { destroy: () => { resize.disconnect(); plot.destroy(); } };
}
