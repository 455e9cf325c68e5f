// The fleet: totals, the fleet-wide cumulative PnL chart, and one row per bot, updated in place.

import { lineChart, timeSeries } from "./charts.js";
import { byId, h, setAttr, setText, syncRows } from "./dom.js";
import { age, count, money, plotNumber, shortTime, tone } from "./format.js";

export function moneyCell(value, { signed = true } = {}) {
  return { text: money(value, { signed }), cls: `num ${signed ? tone(value) : ""}`.trim(), title: value ?? "" };
}

export function statusPill(status) {
  return h("span", { class: `pill status-${status}`, text: status ?? "—" });
}

// What the page knows of heartbeat ages: the server's ages at `generated_at`, advanced by the
// client's clock since the fetch (so "3 s ago" keeps counting between refreshes).
export class Clock {
  constructor() {
    this.fetchedAt = performance.now();
  }

  mark() {
    this.fetchedAt = performance.now();
  }

  ageOf(serverAgeSeconds) {
    if (serverAgeSeconds === null || serverAgeSeconds === undefined) return null;
    return Number(serverAgeSeconds) + (performance.now() - this.fetchedAt) / 1000;
  }
}

export class FleetView {
  constructor() {
    this.chart = lineChart(byId("fleet-chart"), "fleet PnL");
    this.rows = byId("fleet-rows");
    this.clock = new Clock();
    this.fleet = null;
    this.askedFor = new Map(); // bot id -> the last_heartbeat it was last refetched for
  }

  render(fleet) {
    this.fleet = fleet;
    this.clock.mark();
    const t = fleet.totals ?? {};
    setText(byId("total-bots"), count(t.bots));
    setText(byId("total-running"), count(t.running));
    setText(byId("total-stale"), count(t.stale));
    setAttr(byId("total-stale"), "class", t.stale ? "warn" : null);
    setText(byId("total-open"), count(t.open_positions));
    for (const [id, value] of [["total-pnl", t.total_pnl], ["total-today", t.today_pnl]]) {
      const el = byId(id);
      setText(el, money(value, { signed: true }));
      setAttr(el, "class", tone(value));
      setAttr(el, "title", value);
    }
    setText(byId("stale-rule"), fleet.stale_rule ? `stale: ${fleet.stale_rule}` : "");
    setText(byId("generated-at"), fleet.generated_at ? `data at ${shortTime(fleet.generated_at)} UTC` : "");

    const points = fleet.cumulative_pnl ?? [];
    this.chart.update(timeSeries(points, (p) => p.t, (p) => plotNumber(p.pnl)));

    const bots = fleet.bots ?? [];
    byId("fleet-empty").hidden = bots.length > 0;
    syncRows(
      this.rows,
      bots,
      (bot) => bot.id,
      (bot) => [
        { node: h("a", { href: `#bot=${encodeURIComponent(bot.id)}`, text: bot.id }), key: bot.id, cls: "id" },
        bot.type ?? "—",
        { node: statusPill(bot.status), key: bot.status ?? "" },
        { node: heartbeatNode(bot), key: `${bot.stale}|${bot.last_heartbeat}`, cls: "hb" },
        moneyCell(bot.current_balance, { signed: false }),
        moneyCell(bot.total_pnl),
        moneyCell(bot.today_pnl),
        { text: count(bot.open_positions), cls: "num" },
        { text: shortTime(bot.last_trade_at), title: bot.last_trade_at ?? "" },
      ],
      (bot) => {
        const tr = h("tr", { "data-testid": "bot-row", "data-bot-id": bot.id });
        tr.addEventListener("click", (event) => {
          if (event.target.closest("a")) return;
          location.hash = `bot=${encodeURIComponent(tr.dataset.botId)}`;
        });
        return tr;
      },
    );
    for (const tr of this.rows.children) {
      const bot = bots.find((b) => b.id === tr.dataset.botId);
      setAttr(tr, "data-stale", bot && bot.stale ? "true" : "false");
      setAttr(tr, "class", bot && bot.stale ? "is-stale" : null);
    }
    this.tick({ detect: false });
  }

  // Every second: ages count up. Returns the bots not flagged stale whose age has just passed the
  // threshold, so the caller refetches them and the server (whose rule it is) decides.
  tick({ detect = true } = {}) {
    const crossed = [];
    if (!this.fleet) return crossed;
    const threshold = this.fleet.stale_after_seconds;
    for (const bot of this.fleet.bots ?? []) {
      const tr = this.rows.querySelector(`tr[data-bot-id="${CSS.escape(bot.id)}"]`);
      const text = tr && tr.querySelector(".hb-age");
      if (!text) continue;
      const seconds = this.clock.ageOf(bot.heartbeat_age_seconds);
      setText(text, seconds === null ? "never" : age(seconds));
      const asked = this.askedFor.get(bot.id) === (bot.last_heartbeat ?? "");
      if (detect && !bot.stale && seconds !== null && threshold && seconds > threshold && !asked) {
        this.askedFor.set(bot.id, bot.last_heartbeat ?? "");
        crossed.push(bot.id);
      }
    }
    return crossed;
  }
}

function heartbeatNode(bot) {
  return h(
    "span",
    { title: bot.last_heartbeat ?? "never" },
    h("span", { class: "hb-age", "data-testid": "heartbeat-age" }),
    bot.stale ? h("span", { class: "stale", "data-testid": "stale-flag", text: "stale" }) : null,
  );
}
