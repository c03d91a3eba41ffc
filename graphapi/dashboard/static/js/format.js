// Numbers, money, percentages, times and date ranges, in the viewer's locale.

const locale = navigator.language || "en-US";
const moneyFormats = new Map();
const integer = new Intl.NumberFormat(locale);
const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 2 });
export const DASH = "—";

// Money comes from the API as an exact decimal string ("0.0025") and is shown
// as stored: with the currency's usual decimals at least (2 for USD), more when
// the amount has them (up to the 6 the API keeps). The string itself is
// formatted, with exactly its own number of decimals, so no float rounds it
// ("0.025" is not "$0.03").
const MAX_DECIMALS = 6;

export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return DASH;
  // A number (a chart's axis tick) is read to the API's precision first.
  const text = typeof amount === "number" ? amount.toFixed(MAX_DECIMALS) : String(amount).trim();
  const exact = /^-?\d+(?:\.(\d*))?$/.exec(text);
  const decimals = exact ? Math.min((exact[1] ?? "").replace(/0+$/, "").length, MAX_DECIMALS) : MAX_DECIMALS;
  return moneyFormat(currency, decimals)(exact ? text : Number(text));
}

function moneyFormat(currency, decimals) {
  const key = `${currency} ${decimals}`;
  if (!moneyFormats.has(key)) {
    let format;
    try {
      const usual = new Intl.NumberFormat(locale, { style: "currency", currency }).resolvedOptions().minimumFractionDigits;
      const digits = Math.max(usual, decimals);
      const intl = new Intl.NumberFormat(locale, { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
      format = (value) => intl.format(value);
    } catch {
      // Not a currency this browser knows: the amount as sent, then the code.
      format = (value) => `${value} ${currency}`;
    }
    moneyFormats.set(key, format);
  }
  return moneyFormats.get(key);
}

// A chart's axis: large amounts in short ("$1.2M"), so they fit beside it.
export function shortMoney(amount, currency) {
  if (Math.abs(amount) < 10000) return money(amount, currency);
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 }).format(amount);
  } catch {
    return money(amount, currency);
  }
}

export const count = (n) => (n === null || n === undefined ? DASH : integer.format(n));

// The API reports percentages as numbers of percent (12.5 means 12.5 %).
export const pct = (n) => (n === null || n === undefined ? DASH : percent.format(n / 100));

// Date and time, each kept on one line, so a narrow column breaks only between them.
export function dateTime(iso, timeZone) {
  if (!iso) return DASH;
  const moment = new Date(iso);
  const unbroken = (text) => text.replace(/ /g, "\u00a0");
  return `${unbroken(moment.toLocaleDateString(locale, { timeZone, dateStyle: "medium" }))}, ${unbroken(moment.toLocaleTimeString(locale, { timeZone, timeStyle: "medium" }))}`;
}

export function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

export function timeZones() {
  return typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : ["UTC"];
}

// Milliseconds that `timeZone` is ahead of UTC at the instant `ms`.
function zoneOffset(ms, timeZone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]),
  );
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

// The instant local midnight of `day` ("YYYY-MM-DD") begins in `timeZone`.
export function startOfDay(day, timeZone) {
  const [y, m, d] = day.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d);
  let instant = guess - zoneOffset(guess, timeZone);
  instant = guess - zoneOffset(instant, timeZone); // right across a DST change
  return new Date(instant);
}

// Today's date ("YYYY-MM-DD") in `timeZone`, moved by `days`.
export function today(timeZone, days = 0) {
  const local = new Date(Date.now() + zoneOffset(Date.now(), timeZone));
  local.setUTCDate(local.getUTCDate() + days);
  return local.toISOString().slice(0, 10);
}

export const RANGES = {
  today: "Today",
  yesterday: "Yesterday",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  custom: "Custom",
};

// The range as inclusive local days and as the UTC instants the API takes.
export function resolveRange({ range, from, to, timeZone }) {
  let first;
  let last;
  if (range === "yesterday") first = last = today(timeZone, -1);
  else if (range === "7d") [first, last] = [today(timeZone, -6), today(timeZone)];
  else if (range === "30d") [first, last] = [today(timeZone, -29), today(timeZone)];
  else if (range === "custom" && from && to) [first, last] = from <= to ? [from, to] : [to, from];
  else first = last = today(timeZone);
  const next = new Date(`${last}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return {
    first,
    last,
    since: startOfDay(first, timeZone).toISOString(),
    until: startOfDay(next.toISOString().slice(0, 10), timeZone).toISOString(),
  };
}
