// A newest-first list (conversions, postbacks, rule events) read a page at a
// time from a connection, with a button for older rows.

import { errorBox, h } from "./dom.js";

// `zoned`: the headers of columns of times, which name the time zone they are in.
export function pagedTable({ caption, headers, numeric = [], zoned = [], timeZone, row, fetchPage, empty }) {
  const tbody = h("tbody");
  const problem = h("div");
  const more = h("button", { type: "button", class: "more", onclick: () => page(false).catch((e) => problem.replaceChildren(errorBox(e))) }, "Show older");
  const table = h("div", { class: "table-wrap" }, h("table", { class: "data" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col", class: numeric.includes(c) ? "num" : null },
      c, zoned.includes(c) ? h("small", { class: "zone" }, timeZone) : null)))),
    tbody));
  const element = h("div");
  let after = null;

  const show = () => element.replaceChildren(...(tbody.children.length ? [table, problem, more] : [empty()]));

  async function page(first) {
    more.disabled = true;
    problem.replaceChildren();
    try {
      const connection = await fetchPage(first ? null : after);
      const rows = connection.edges.map((edge) => row(edge.node));
      if (first) tbody.replaceChildren(...rows);
      else tbody.append(...rows);
      after = connection.pageInfo.endCursor;
      more.hidden = !connection.pageInfo.hasNextPage;
      show();
    } finally {
      more.disabled = false;
    }
  }

  return { element, tbody, show, load: () => page(true) };
}

// A view of one such list: heading, filters, the list, and its errors.
// `filters` are labelled controls whose change reloads the list.
export function logView(app, { title, hint, filters = [], extra = [], table }) {
  const timeZone = app.prefs.timeZone;
  const body = h("div", { class: "view-body", "aria-live": "polite" });
  const root = h("section", { class: "view", "aria-labelledby": "view-title" },
    h("div", { class: "view-head" }, h("h1", { id: "view-title" }, title), ...extra),
    hint ? h("p", { class: "hint" }, hint) : null,
    h("div", { class: "toolbar" },
      filters.map(([label, control]) => {
        control.addEventListener("change", () => load());
        return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
      }),
      h("button", { type: "button", onclick: () => load() }, "Refresh")),
    body);
  const log = pagedTable({ ...table, timeZone });

  async function load() {
    try {
      await log.load();
      body.replaceChildren(log.element);
      root.dataset.loaded = "true";
      // Which filter values the list shows, for whoever waits for them.
      for (const [, control] of filters) root.dataset[control.id.replace(/-(\w)/g, (_, c) => c.toUpperCase())] = control.value;
    } catch (error) {
      app.fail(error, body);
    }
  }

  load();
  return { root, log, load };
}
