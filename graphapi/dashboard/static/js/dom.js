// Small DOM building blocks shared by the views: elements, sortable tables,
// copyable fields, empty states, errors and forms that show userErrors.

let fieldIds = 0; // unique ids for label/for pairs

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function errorBox(error) {
  return h("div", { class: "error", role: "alert" }, h("strong", {}, "Something went wrong: "), error.message ?? String(error));
}

export function emptyState(title, ...body) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), ...body);
}

// Text that is cut with an ellipsis when long, the whole of it in the tooltip.
export function cut(text, className = "cut") {
  return h("span", { class: className, title: text }, text);
}

export function copyField(label, value, id) {
  const input = h("input", { id, value, readOnly: true, class: "mono", "aria-label": label });
  const status = h("span", { class: "copied", "aria-live": "polite" });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      input.select(); // no clipboard API (plain http on another host): leave it selected to copy by hand
      document.execCommand("copy");
    }
    status.textContent = "Copied";
    setTimeout(() => (status.textContent = ""), 2000);
  };
  return h(
    "div",
    { class: "copy-field" },
    h("label", { for: id }, label),
    h("div", { class: "copy-row" }, input, h("button", { type: "button", onclick: copy, "aria-label": `Copy the ${label}` }, "Copy"), status),
  );
}

// For a view that asks the API again when a choice changes: answers can come
// back out of order, and only the latest request's may be shown (an earlier
// one arriving last would put back what the user just changed away from).
export function latestOnly() {
  let latest = 0;
  return { next: () => ++latest, is: (request) => request === latest };
}

// A table sortable by any column whose header is clicked (or activated by
// keyboard). columns: [{ key, label, value(row) for sorting, render(row), numeric,
// text (a name or message that wraps: "text", or "text name" for a name) }]
// onSort(key, descending): the user sorted it, so a view that draws the table
// again (new figures) can keep that order.
// total: a row of totals, drawn last (its first cell says "Total").
// drill: { rows(row), key(row), open }: each row's own rows (a drill-down),
// beneath it in the same order, shown and hidden by a toggle in its first cell.
export function sortableTable(columns, rows, { sortKey, descending = true, caption, rowProps, onSort, total, drill } = {}) {
  let key = sortKey ?? columns[0].key;
  let desc = descending;
  const opened = new Set(drill?.open ? rows.map(drill.key) : []);
  const table = h("table", { class: "data" });
  // Phone width hides the header row, so sorting gets a select of its own there.
  const sortable = columns.filter((c) => c.value);
  const sortId = `sort${++fieldIds}`;
  const sortSelect = h("select", { id: sortId, onchange: () => { key = sortSelect.value; desc = sortable.find((c) => c.key === key).numeric ?? false; resort(); } },
    sortable.map((c) => h("option", { value: c.key }, c.label)));
  const cell = (c, row, before = null) => h("td", { class: c.numeric ? "num" : c.text ?? null, "data-label": c.label }, before, c.render(row));
  const toggle = (row) => {
    const id = drill.key(row);
    const open = opened.has(id);
    return h("button", {
      type: "button", class: "toggle", "aria-expanded": String(open), "aria-label": `${open ? "Hide" : "Show"} ${drill.rows(row).length} rows of ${drill.key(row)}`,
      onclick: () => { if (open) opened.delete(id); else opened.add(id); draw(); },
    }, open ? "▾" : "▸");
  };
  const draw = () => {
    sortSelect.value = key;
    const column = columns.find((c) => c.key === key);
    const sort = (list) => [...list].sort((a, b) => {
      const [x, y] = [column.value(a), column.value(b)];
      const order = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
      return desc ? -order : order;
    });
    const sorted = sort(rows);
    const rowsOf = (row) => {
      const drawn = h("tr", rowProps ? rowProps(row) : {}, columns.map((c, i) => cell(c, row, i === 0 && drill ? toggle(row) : null)));
      if (!drill) return [drawn];
      drawn.classList.add("group");
      if (!opened.has(drill.key(row))) return [drawn];
      return [drawn, ...sort(drill.rows(row)).map((inner) => h("tr", { class: "drilled", dataset: { group: drill.key(row) } }, columns.map((c) => cell(c, inner))))];
    };
    table.replaceChildren(
      ...(caption ? [h("caption", {}, caption)] : []),
      h("thead", {}, h("tr", {}, columns.map((c) =>
        h("th", {
          scope: "col",
          class: c.numeric ? "num" : null,
          "aria-sort": c.key === key ? (desc ? "descending" : "ascending") : "none",
        }, c.value
          ? h("button", { type: "button", class: "sort", onclick: () => { desc = c.key === key ? !desc : c.numeric ?? false; key = c.key; resort(); } },
              c.label, h("span", { "aria-hidden": "true" }, c.key === key ? (desc ? " ▼" : " ▲") : ""))
          : c.label),
      ))),
      h("tbody", {}, sorted.map(rowsOf)),
      ...(total ? [h("tfoot", {}, h("tr", { class: "total" }, columns.map((c, i) => (i === 0 ? h("td", { "data-label": c.label }, "Total") : cell(c, total)))))] : []),
    );
  };
  const resort = () => { onSort?.(key, desc); draw(); };
  draw();
  return h("div", { class: "table-wrap" },
    h("div", { class: "sort-by field inline" }, h("label", { for: sortId }, "Sort by"), sortSelect), table);
}

// A form whose inputs are named by their GraphQL input path ("input.offers.0.url"),
// so each userError lands next to the field it names.
export function showUserErrors(form, userErrors) {
  clearErrors(form);
  const general = [];
  for (const error of userErrors) {
    const path = (error.field ?? []).join(".");
    // The nearest field on the path: an error inside a JSON config lands on
    // the config, saying where inside it.
    let target = null;
    let depth = error.field?.length ?? 0;
    for (; depth && !target; depth--) {
      target = form.querySelector(`[data-path="${CSS.escape(error.field.slice(0, depth).join("."))}"]`);
    }
    if (target) {
      const slot = target.closest(".field")?.querySelector(".field-error");
      const inside = error.field.slice(depth + 1).join(".");
      const message = inside ? `${inside}: ${error.message}` : error.message;
      target.setAttribute("aria-invalid", "true");
      if (slot) {
        slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
        continue;
      }
    }
    general.push(path ? `${path}: ${error.message}` : error.message);
  }
  const summary = form.querySelector(".form-errors");
  if (general.length) summary.append(...general.map((m) => h("p", {}, m)));
  (form.querySelector("[aria-invalid=true]") ?? summary).focus?.();
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((slot) => (slot.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  form.querySelector(".form-errors").replaceChildren();
}


// One labelled input with its error slot. kind: text, url, number, select, textarea, checkbox.
export function field(label, path, { kind = "text", value = "", options = [], hint, required, placeholder, step } = {}) {
  const id = `f${++fieldIds}`;
  const errorId = `${id}-error`;
  const common = { id, name: path, dataset: { path }, "aria-describedby": errorId, required, placeholder };
  let input;
  if (kind === "select") {
    input = h("select", common, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  } else if (kind === "textarea") {
    input = h("textarea", { ...common, rows: 4 }, value ?? "");
  } else if (kind === "checkbox") {
    input = h("input", { ...common, type: "checkbox", checked: Boolean(value) });
  } else {
    input = h("input", { ...common, type: kind, value: value ?? "", step, inputmode: kind === "number" ? "decimal" : null });
  }
  return h(
    "div",
    { class: `field field-${kind}` },
    h("label", { for: id }, label),
    input,
    hint ? h("small", { class: "hint" }, hint) : null,
    h("span", { class: "field-error", id: errorId, role: "alert" }),
  );
}

export function formShell(title, body, { submitLabel, onCancel }) {
  return h(
    "form",
    { class: "card form", novalidate: true },
    h("h2", {}, title),
    h("div", { class: "form-errors", role: "alert", tabindex: "-1" }),
    body,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, submitLabel),
      onCancel ? h("button", { type: "button", onclick: onCancel }, "Cancel") : null,
    ),
  );
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
