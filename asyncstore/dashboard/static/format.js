// Display formatting. Money arrives as exact decimal strings and is only ever rounded for display
// here, digit by digit on the string: no float ever touches a shown amount.

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

// Python's str(Decimal) may use an exponent ("0E-8", "1.5E+3"): move the point on the digits.
function plainDigits(whole, fraction, exponent) {
  const shift = Number(exponent || 0);
  if (!shift) return [whole, fraction];
  const digits = whole + fraction;
  const point = whole.length + shift;
  if (point <= 0) return ["0", "0".repeat(-point) + digits];
  if (point >= digits.length) return [digits + "0".repeat(point - digits.length), ""];
  return [digits.slice(0, point), digits.slice(point)];
}

// "1234.565" -> {sign: "", text: "1,234.57"}; half away from zero, on the decimal digits.
function roundDecimal(value, places) {
  const match = DECIMAL.exec(String(value).trim());
  if (!match) return null;
  const [, sign, rawWhole = "", rawFraction = "", exponent] = match;
  if (!rawWhole && !rawFraction) return null;
  const [whole, fraction] = plainDigits(rawWhole, rawFraction, exponent);
  const kept = (whole || "0") + fraction.padEnd(places, "0").slice(0, places);
  const digits = kept.split("").map(Number);
  if ((fraction[places] ?? "0") >= "5") {
    let i = digits.length - 1;
    while (i >= 0 && digits[i] === 9) digits[i--] = 0;
    if (i < 0) digits.unshift(1);
    else digits[i] += 1;
  }
  const text = digits.join("");
  const intPart = text.slice(0, text.length - places).replace(/^0+(?=\d)/, "");
  const fracPart = places ? text.slice(text.length - places) : "";
  const isZero = /^0*$/.test(intPart + fracPart);
  const grouped = intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return {
    negative: sign === "-" && !isZero,
    zero: isZero,
    text: fracPart ? `${grouped}.${fracPart}` : grouped,
  };
}

// A money amount for display: "+1,234.57", "−12.00", "0.00"; "—" when unknown.
export function money(value, { signed = false, places = 2 } = {}) {
  if (value === null || value === undefined || value === "") return "—";
  const r = roundDecimal(value, places);
  if (!r) return String(value);
  if (r.negative) return `−${r.text}`;
  return signed && !r.zero ? `+${r.text}` : r.text;
}

// "pos" / "neg" / "zero" for colouring a decimal string, from its text (no arithmetic).
export function tone(value) {
  if (value === null || value === undefined || value === "") return "none";
  const r = roundDecimal(value, 8);
  if (!r) return "none";
  if (r.zero) return "zero";
  return r.negative ? "neg" : "pos";
}

// A ratio or percentage from the metrics (decimal strings too).
export function number(value, places = 2, suffix = "") {
  if (value === null || value === undefined || value === "") return "—";
  const r = roundDecimal(value, places);
  if (!r) return String(value);
  return `${r.negative ? "−" : ""}${r.text}${suffix}`;
}

export function count(value) {
  if (value === null || value === undefined) return "—";
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// Seconds -> "3 s ago", "4 min ago", "2 h ago", "5 d ago".
export function age(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "never";
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// ISO UTC -> "2024-05-01 14:03:07 UTC" (the data is UTC; so is what we show).
export function time(iso) {
  if (!iso) return "—";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(iso);
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function shortTime(iso) {
  if (!iso) return "—";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(iso);
  return new Date(ms).toISOString().slice(5, 16).replace("T", " ");
}

// For plotting only (a chart's y axis is float by nature); never for shown amounts.
export function plotNumber(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export function epochSeconds(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms / 1000;
}

// A PnL period's name from its start (an ISO time or date): daily "2024-05-01", weekly
// "wk of 2024-04-29", monthly "2024-05"; `short` for a chart's axis ("05-01", "04-29", "2024-05").
export function periodLabel(kind, start, { short = false } = {}) {
  const day = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(start ?? ""));
  if (!day) return String(start ?? "");
  const [, y, m, d] = day;
  if (kind === "monthly") return `${y}-${m}`;
  if (short) return `${m}-${d}`;
  return kind === "weekly" ? `wk of ${y}-${m}-${d}` : `${y}-${m}-${d}`;
}
