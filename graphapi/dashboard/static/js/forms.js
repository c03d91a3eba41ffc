// Forms to create and edit campaigns, offers, landers and rules. Each input is
// named by its path in the mutation's variables ("input.offers.0.url"), which
// is also the path the API's userErrors give, so errors land beside their field.

import { gql } from "./api.js";
import { clearErrors, field, formShell, h, showUserErrors } from "./dom.js";

const USER_ERRORS = "userErrors { field message }";
const COST_MODELS = ["NONE", "CPC", "CPM", "CPA", "REVSHARE"].map((m) => [m, m === "NONE" ? "No cost" : m]);
const STATUSES = ["ACTIVE", "PAUSED", "ARCHIVED"].map((s) => [s, s.toLowerCase()]);

// How each input's text becomes a GraphQL value; `undefined` leaves it out.
const CONVERT = {
  string: (el) => el.value.trim(),
  optional: (el) => el.value.trim() || null, // empty clears a nullable field
  default: (el) => el.value.trim() || undefined, // empty takes the API's default
  int: (el) => (el.value.trim() === "" ? undefined : Number(el.value)),
  // One entry a line: a source name may hold spaces and commas ("Top Sites Network").
  decimal: (el) => decimal(el) ?? undefined, // empty takes the API's default
  optionalDecimal: (el) => decimal(el) ?? null, // empty clears it
  list: (el) => el.value.split("\n").map((line) => line.trim()).filter(Boolean),
  bool: (el) => el.checked,
  skip: () => undefined,
  json: (el) => {
    if (!el.value.trim()) return undefined;
    try {
      return JSON.parse(el.value);
    } catch (error) {
      throw new FieldError(el.dataset.path, `not valid JSON: ${error.message}`);
    }
  },
};

// An amount as the API takes it ("3.50"), checked here so a typo gets a plain
// message beside its field rather than GraphQL's coercion error.
function decimal(el) {
  const text = el.value.trim();
  if (!text) return null;
  if (/^\d+(\.\d+)?$/.test(text)) return text;
  const hint = /^\d+,\d+$/.test(text) ? ` Write ${text.replace(",", ".")}: a '.' before the cents, not a ','.` : "";
  throw new FieldError(el.dataset.path, `${JSON.stringify(text)} is not a decimal number; write digits and a '.', such as 3.50.${hint}`);
}

// GraphQL refuses a value of the wrong type (a weight of "x") before the
// mutation runs, in a message that names the variable path: that is the
// field's path too, so such errors land beside their field like userErrors.
const COERCION = /^Variable '\$(\w+)' has invalid value at ((?:\.\w+|\[\d+\])*): (.*)$/s;

function fieldErrors(error) {
  if (error.userErrors) return error.userErrors;
  if (!error.errors?.length) return [{ field: null, message: error.message }];
  return error.errors.map((e) => {
    const match = COERCION.exec(e.message);
    return match ? { field: [match[1], ...(match[2].match(/\w+/g) ?? [])], message: match[3] } : { field: null, message: e.message };
  });
}

class FieldError extends Error {
  constructor(path, message) {
    super(message);
    this.userErrors = [{ field: path.split("."), message }];
  }
}

function typed(node, type) {
  node.querySelector("[data-path]").dataset.type = type;
  return node;
}

function setPath(target, parts, value) {
  const [head, ...rest] = parts;
  if (!rest.length) {
    if (value !== undefined) target[head] = value;
    return;
  }
  target[head] ??= /^\d+$/.test(rest[0]) ? [] : {};
  setPath(target[head], rest, value);
}

function formValues(form) {
  const values = {};
  for (const el of form.querySelectorAll("[data-path]")) {
    setPath(values, el.dataset.path.split("."), CONVERT[el.dataset.type ?? "string"](el));
  }
  return values;
}

// A form that runs `mutation` with its values (plus `fixed` ones) and hands
// the payload's object to `onDone`, or shows its userErrors.
function mutationForm({ title, submitLabel, body, mutation, payload, fixed = {}, onDone, onCancel, extraActions = [] }) {
  const form = formShell(title, body, { submitLabel, onCancel });
  form.querySelector(".actions").append(...extraActions);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    clearErrors(form);
    try {
      const values = formValues(form);
      const variables = { ...values, ...fixed, input: { ...values.input, ...fixed.input } };
      const result = (await gql(mutation, variables))[payload];
      if (result.userErrors.length) showUserErrors(form, result.userErrors);
      else await onDone(result);
    } catch (error) {
      showUserErrors(form, fieldErrors(error));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function openDialog(form) {
  const dialog = h("dialog", { class: "dialog", "aria-label": form.querySelector("h2").textContent }, form);
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("graphapi:close", () => dialog.close());
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector("input, select, textarea")?.focus();
}

const closeOf = (form) => () => form.dispatchEvent(new Event("graphapi:close"));

function offerFields(prefix, offer = {}) {
  return [
    field("Offer name", `${prefix}.name`, { value: offer.name, required: true }),
    field("Offer URL", `${prefix}.url`, { kind: "url", value: offer.url, required: true, placeholder: "https://network.example/offer?click_id={click_id}", hint: "Macros: {click_id}, {subid}, {source}, {creative}, {country}…" }),
    typed(field("Weight", `${prefix}.weight`, { kind: "number", value: offer.weight ?? 100, step: 1 }), "int"),
    typed(field("Default payout", `${prefix}.payout`, { kind: "text", value: offer.payout ?? "", placeholder: "0.00" }), "decimal"),
  ];
}

function landerFields(prefix, lander = {}) {
  return [
    field("Lander name", `${prefix}.name`, { value: lander.name, required: true }),
    field("Lander URL", `${prefix}.url`, { kind: "url", value: lander.url, required: true, placeholder: "https://lander.example/?click_id={click_id}" }),
    typed(field("Weight", `${prefix}.weight`, { kind: "number", value: lander.weight ?? 100, step: 1 }), "int"),
  ];
}

// A growing list of offer or lander rows inside the new-campaign form. Rows are
// renumbered when one is removed, so their paths match the list the API sees.
function rows(kind, makeFields, min) {
  const list = h("div", { class: "rows" });
  const prefix = `input.${kind.toLowerCase()}s`;
  const renumber = () => [...list.children].forEach((row, i) => {
    row.querySelector("legend").textContent = `${kind} ${i + 1}`;
    for (const el of row.querySelectorAll("[data-path]")) el.dataset.path = el.name = el.dataset.path.replace(/\.\d+\./, `.${i}.`);
  });
  const add = () => {
    const row = h("fieldset", { class: "row" },
      h("legend", {}, ""),
      makeFields(`${prefix}.${list.children.length}`),
      h("button", { type: "button", class: "small", onclick: () => { if (list.children.length > min) { row.remove(); renumber(); } } }, `Remove ${kind.toLowerCase()}`));
    list.append(row);
    renumber();
  };
  for (let i = 0; i < min; i++) add();
  // The block itself carries the list's path, for errors about the list as a whole.
  return h("div", { class: "rows-block", dataset: { path: prefix, type: "skip" } },
    list, h("button", { type: "button", onclick: add }, `Add ${kind === "Offer" ? "another offer" : "a lander"}`));
}

function campaignFields(c = {}) {
  return [
    field("Name", "input.name", { value: c.name, required: true }),
    typed(field("Traffic source", "input.trafficSource", { value: c.trafficSource, placeholder: "e.g. PropellerAds" }), "optional"),
    field("Cost model", "input.costModel", { kind: "select", options: COST_MODELS, value: c.costModel ?? "NONE" }),
    typed(field("Cost value", "input.costValue", { value: c.costValue ?? "", placeholder: "0.00", hint: "Per click (CPC), per 1000 clicks (CPM), per conversion (CPA) or percent of revenue (REVSHARE)" }), "decimal"),
    typed(field("Daily budget", "input.dailyBudget", { value: c.dailyBudget ?? "", placeholder: "none" }), "optionalDecimal"),
    typed(field("Fallback URL", "input.fallbackUrl", { kind: "url", value: c.fallbackUrl ?? "", hint: "Where visitors go while the campaign is paused" }), "optional"),
  ];
}

export function newCampaignForm(app) {
  return mutationForm({
    title: "New campaign",
    submitLabel: "Create campaign",
    body: [
      ...campaignFields(),
      typed(field("Currency", "input.currency", { value: "USD", hint: "ISO-4217 code of payouts and costs" }), "default"),
      h("h3", {}, "Offers"), rows("Offer", offerFields, 1),
      h("h3", {}, "Landers (optional)"), rows("Lander", landerFields, 0),
    ],
    mutation: `mutation Create($input: CreateCampaignInput!) { createCampaign(input: $input) { campaign { id } ${USER_ERRORS} } }`,
    payload: "createCampaign",
    onDone: ({ campaign }) => app.go(`#/campaigns/${campaign.id}`),
    onCancel: () => app.go("#/campaigns"),
  });
}

export function campaignForm(app, campaign, done) {
  const form = mutationForm({
    title: `Edit ${campaign.name}`,
    submitLabel: "Save campaign",
    body: [
      ...campaignFields(campaign),
      field("Status", "input.status", { kind: "select", options: STATUSES, value: campaign.status }),
      typed(field("Source whitelist", "input.sourceWhitelist", { kind: "textarea", value: campaign.sourceWhitelist.join("\n"), hint: "One source per line" }), "list"),
      typed(field("Source blacklist", "input.sourceBlacklist", { kind: "textarea", value: campaign.sourceBlacklist.join("\n"), hint: "One source per line; clicks from these sources go to the fallback URL" }), "list"),
    ],
    mutation: `mutation Update($input: UpdateCampaignInput!) { updateCampaign(input: $input) { campaign { id } ${USER_ERRORS} } }`,
    payload: "updateCampaign",
    fixed: { input: { id: campaign.id } },
    onDone: () => { closeOf(form)(); done(); },
    onCancel: () => closeOf(form)(),
  });
  return form;
}

function childForm({ noun, campaign, item, fields, addMutation, updateMutation, addPayload, updatePayload, done }) {
  const form = mutationForm({
    title: item ? `Edit ${noun} ${item.name}` : `Add ${noun} to ${campaign.name}`,
    submitLabel: item ? `Save ${noun}` : `Add ${noun}`,
    body: [...fields, item ? typed(field("Active", "input.active", { kind: "checkbox", value: item.active }), "bool") : null].filter(Boolean),
    mutation: item ? updateMutation : addMutation,
    payload: item ? updatePayload : addPayload,
    fixed: item ? { input: { id: item.id } } : { campaignId: campaign.id },
    onDone: () => { closeOf(form)(); done(); },
    onCancel: () => closeOf(form)(),
  });
  return form;
}

export function offerForm(app, campaign, offer, done) {
  return childForm({
    noun: "offer", campaign, item: offer, fields: offerFields("input", offer ?? {}), done,
    addMutation: `mutation Add($campaignId: ID!, $input: OfferInput!) { addOffer(campaignId: $campaignId, input: $input) { offer { id } ${USER_ERRORS} } }`,
    updateMutation: `mutation Update($input: UpdateOfferInput!) { updateOffer(input: $input) { offer { id } ${USER_ERRORS} } }`,
    addPayload: "addOffer", updatePayload: "updateOffer",
  });
}

export function landerForm(app, campaign, lander, done) {
  return childForm({
    noun: "lander", campaign, item: lander, fields: landerFields("input", lander ?? {}), done,
    addMutation: `mutation Add($campaignId: ID!, $input: LanderInput!) { addLander(campaignId: $campaignId, input: $input) { lander { id } ${USER_ERRORS} } }`,
    updateMutation: `mutation Update($input: UpdateLanderInput!) { updateLander(input: $input) { lander { id } ${USER_ERRORS} } }`,
    addPayload: "addLander", updatePayload: "updateLander",
  });
}

export function ruleForm(app, campaign, rule, done) {
  // The installed rule plugins, offered as suggestions with what each does and takes.
  const suggestions = h("datalist", { id: "rule-plugins" });
  const plugin = rule
    ? h("p", {}, "Rule plugin: ", h("strong", {}, rule.plugin))
    : field("Rule plugin", "input.plugin", { required: true, hint: "The name a rule plugin is registered under" });
  plugin.querySelector("input")?.setAttribute("list", "rule-plugins");
  const pluginList = h("ul", { class: "plugins hint" });
  if (!rule) {
    gql("{ rulePlugins { name description configSchema } }").then(({ rulePlugins }) => {
      suggestions.replaceChildren(...rulePlugins.map((p) => h("option", { value: p.name })));
      pluginList.replaceChildren(...(rulePlugins.length
        ? rulePlugins.map((p) => h("li", {}, h("code", {}, p.name), ` ${p.description}`,
          p.configSchema?.properties ? h("small", {}, ` Config: ${Object.keys(p.configSchema.properties).join(", ")}`) : null))
        : [h("li", {}, "The server lists no rule plugins (see `graphapi plugins`).")]));
    }, (error) => pluginList.replaceChildren(h("li", {}, `Could not list the rule plugins: ${error.message}`)));
  }
  const remove = rule
    ? h("button", {
      type: "button", class: "danger",
      onclick: async () => {
        const { removeRule } = await gql(`mutation Remove($id: ID!) { removeRule(id: $id) { rule { id } ${USER_ERRORS} } }`, { id: rule.id });
        if (removeRule.userErrors.length) showUserErrors(form, removeRule.userErrors);
        else { closeOf(form)(); done(); }
      },
    }, "Remove rule")
    : null;
  const form = mutationForm({
    title: rule ? `Edit rule ${rule.plugin}` : `Add a rule to ${campaign.name}`,
    submitLabel: rule ? "Save rule" : "Add rule",
    body: [
      plugin, suggestions, pluginList,
      typed(field("Config (JSON)", "input.config", { kind: "textarea", value: rule ? JSON.stringify(rule.config, null, 2) : "{}" }), "json"),
      typed(field("Enabled", "input.enabled", { kind: "checkbox", value: rule ? rule.enabled : true }), "bool"),
    ],
    mutation: rule
      ? `mutation Update($input: UpdateRuleInput!) { updateRule(input: $input) { rule { id } ${USER_ERRORS} } }`
      : `mutation Add($input: AddRuleInput!) { addRule(input: $input) { rule { id } ${USER_ERRORS} } }`,
    payload: rule ? "updateRule" : "addRule",
    fixed: { input: rule ? { id: rule.id } : { campaignId: campaign.id } },
    onDone: () => { closeOf(form)(); done(); },
    onCancel: () => closeOf(form)(),
    extraActions: [remove].filter(Boolean),
  });
  return form;
}
