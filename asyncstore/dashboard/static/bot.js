// One bot: its books, PnL curve and periods, metrics, activity, positions and closed trades.

import { fetchTrades } from "./api.js";
import { lineChart, periodBarChart, timeSeries } from "./charts.js";
import { byId, h, setAttr, setText, syncRows } from "./dom.js";
import { Clock, moneyCell } from "./fleet.js";
import {
  age,
  count,
  duration,
  epochSeconds,
  money,
  number,
  periodLabel,
  plotNumber,
  shortTime,
  time,
  tone,
} from "./format.js";

const PAGE = 50;

const METRICS = [
  ["total_return", "Total return", (v) => number(v, 2, " %"), true],
  ["sharpe_ratio", "Sharpe ratio", (v) => number(v, 2), true],
  ["win_rate", "Win rate", (v) => number(v, 2, " %"), false],
  ["profit_factor", "Profit factor", (v) => number(v, 2), false],
  ["max_drawdown", "Max drawdown", (v) => number(v, 2, " %"), false],
  ["total_trades", "Trades", (v) => count(v), false],
  ["winning_trades", "Winning", (v) => count(v), false],
  ["losing_trades", "Losing", (v) => count(v), false],
  ["avg_win", "Avg win", (v) => money(v, { signed: true }), true],
  ["avg_loss", "Avg loss", (v) => money(v, { signed: true }), true],
  ["largest_win", "Largest win", (v) => money(v, { signed: true }), true],
  ["largest_loss", "Largest loss", (v) => money(v, { signed: true }), true],
];

function winRate(wins, trades) {
  // A display ratio of two counts (not money).
  if (!trades) return "—";
  return `${((100 * Number(wins)) / Number(trades)).toFixed(1)} %`;
}

export class BotView {
  constructor({ onError }) {
    this.onError = onError;
    this.botId = null;
    this.details = null;
    this.period = "daily";
    this.periodView = "chart";
    this.metric = "sharpe_ratio";
    this.trades = { rows: [], next: null };
    this.tradesWork = Promise.resolve(); // trade loads run one after another, never interleaved
    this.clock = new Clock();
    this.equityChart = lineChart(byId("bot-equity-chart"), "cumulative PnL");
    this.periodChart = periodBarChart(byId("period-chart"));
    this.metricsChart = lineChart(byId("metrics-chart"), "metric", "#d29922", "rgba(210,153,34,0.10)");
    this.activityChart = lineChart(byId("activity-chart"), "balance", "#3fb950", "rgba(63,185,80,0.10)");

    for (const button of document.querySelectorAll("[data-period]")) {
      button.addEventListener("click", () => {
        this.period = button.dataset.period;
        this.renderPeriods();
      });
    }
    for (const button of document.querySelectorAll("[data-periodview]")) {
      button.addEventListener("click", () => {
        this.periodView = button.dataset.periodview;
        this.renderPeriods();
      });
    }
    byId("metric-select").addEventListener("change", (event) => {
      this.metric = event.target.value;
      this.renderMetricHistory();
    });
    byId("trades-more").addEventListener("click", () => this.loadMoreTrades());
  }

  // A different bot is opened: forget the last one's state.
  open(botId) {
    this.botId = botId;
    this.details = null;
    this.trades = { rows: [], next: null };
    setText(byId("bot-title"), botId);
    byId("bot-missing").hidden = true;
    for (const id of ["trade-rows", "position-rows", "symbol-rows", "strategy-rows", "period-rows", "uptime"]) {
      byId(id).replaceChildren();
    }
    byId("metrics-latest").replaceChildren();
    for (const chart of [this.equityChart, this.periodChart, this.metricsChart, this.activityChart]) {
      chart.update([[], [], []].slice(0, chart === this.periodChart ? 3 : 2));
    }
    byId("trades-more").hidden = true;
    setText(byId("trades-count"), "");
  }

  missing(message) {
    const el = byId("bot-missing");
    el.hidden = false;
    setText(el, message);
  }

  render(details, generatedAt) {
    this.details = details;
    this.generatedAt = generatedAt;
    this.clock.mark();
    byId("bot-missing").hidden = true;
    const bot = details.bot;
    setText(byId("bot-title"), bot.id);
    setText(byId("bot-type"), bot.type ?? "—");
    const status = byId("bot-status");
    setText(status, bot.status ?? "—");
    setAttr(status, "class", `pill status-${bot.status}`);
    byId("bot-stale").hidden = !bot.stale;
    for (const [id, value, signed] of [
      ["bot-balance", bot.current_balance, false],
      ["bot-pnl", bot.total_pnl, true],
      ["bot-today", bot.today_pnl, true],
    ]) {
      const el = byId(id);
      setText(el, money(value, { signed }));
      setAttr(el, "class", signed ? tone(value) : null);
      setAttr(el, "title", value);
    }
    setText(byId("bot-open"), count(bot.open_positions));
    setText(byId("bot-started"), time(bot.started_at));
    setText(byId("bot-last-trade"), time(bot.last_trade_at));
    this.tick();

    const equity = details.equity ?? [];
    this.equityChart.update(timeSeries(equity, (p) => p.t, (p) => plotNumber(p.pnl)));
    this.renderPeriods();
    this.renderMetrics();
    this.renderActivity();
    this.renderBreakdowns();
    this.renderPositions();
  }

  tick() {
    if (!this.details) return;
    const bot = this.details.bot;
    const seconds = this.clock.ageOf(bot.heartbeat_age_seconds);
    setText(byId("bot-heartbeat"), `heartbeat ${seconds === null ? "never" : age(seconds)}`);
  }

  renderPeriods() {
    for (const button of document.querySelectorAll("[data-period]")) {
      button.classList.toggle("on", button.dataset.period === this.period);
    }
    for (const button of document.querySelectorAll("[data-periodview]")) {
      button.classList.toggle("on", button.dataset.periodview === this.periodView);
    }
    const rows = this.details?.periods?.[this.period] ?? [];
    const chartEl = byId("period-chart");
    chartEl.hidden = this.periodView !== "chart";
    byId("period-table-wrap").hidden = this.periodView !== "table";
    const values = rows.map((r) => plotNumber(r.pnl));
    this.periodChart.update(
      [rows.map((_r, i) => i), values.map((v) => (v !== null && v >= 0 ? v : null)), values.map((v) => (v !== null && v < 0 ? v : null))],
      { labels: rows.map((r) => periodLabel(this.period, r.period, { short: true })), shape: this.period },
    );
    syncRows(byId("period-rows"), [...rows].reverse(), (r) => r.period, (r) => [
      { text: periodLabel(this.period, r.period), title: r.period },
      { text: count(r.trades), cls: "num" },
      { text: count(r.wins), cls: "num" },
      moneyCell(r.pnl),
    ]);
  }

  renderMetrics() {
    const latest = this.details?.metrics?.latest ?? null;
    const box = byId("metrics-latest");
    setText(byId("metrics-at"), latest ? `calculated ${time(latest.calculated_at)}` : "none calculated yet");
    if (!latest) {
      box.replaceChildren(h("p", { class: "muted", text: "No performance metrics for this bot yet." }));
    } else {
      if (!box.querySelector(".stat")) {
        box.replaceChildren(
          ...METRICS.map(([key, label]) =>
            h("div", { class: "stat" }, h("label", { text: label }), h("b", { "data-testid": `metric-${key}`, "data-metric": key })),
          ),
        );
      }
      for (const [key, , format, toned] of METRICS) {
        const el = box.querySelector(`[data-metric="${key}"]`);
        setText(el, format(latest[key]));
        setAttr(el, "title", latest[key] ?? "");
        setAttr(el, "class", toned ? tone(latest[key]) : null);
      }
    }
    this.renderMetricHistory();
  }

  renderMetricHistory() {
    const history = this.details?.metrics?.history ?? [];
    const points = history.filter((m) => m.calculated_at && plotNumber(m[this.metric]) !== null);
    this.metricsChart.update(
      timeSeries(points, (m) => m.calculated_at, (m) => plotNumber(m[this.metric])),
      { shape: this.metric },
    );
  }

  renderActivity() {
    const activity = this.details?.activity ?? {};
    const equity = (activity.equity ?? []).filter((p) => plotNumber(p.balance) !== null);
    this.activityChart.update(timeSeries(equity, (p) => p.t, (p) => plotNumber(p.balance)));

    const generated = epochSeconds(this.generatedAt ?? "") ?? Date.now() / 1000;
    const { up, span, beats } = renderUptime(byId("uptime"), activity.uptime ?? [], generated);
    setText(
      byId("uptime-summary"),
      span ? `up ${duration(up)} of the last ${duration(span)} (${Math.round((100 * up) / span)} %), ${count(beats)} heartbeats` : "no heartbeats recorded",
    );
  }

  renderBreakdowns() {
    syncRows(byId("symbol-rows"), this.details.by_symbol ?? [], (r) => r.symbol, (r) => [
      r.symbol,
      { text: count(r.trades), cls: "num" },
      { text: winRate(r.wins, r.trades), cls: "num" },
      moneyCell(r.pnl),
    ]);
    syncRows(
      byId("strategy-rows"),
      this.details.by_strategy ?? [],
      (r) => `${r.entry_logic_name}\u0000${r.exit_logic_name}`,
      (r) => [
        r.entry_logic_name ?? "—",
        r.exit_logic_name ?? "—",
        { text: count(r.trades), cls: "num" },
        { text: winRate(r.wins, r.trades), cls: "num" },
        moneyCell(r.pnl),
      ],
    );
  }

  renderPositions() {
    const positions = this.details.open_positions ?? [];
    setText(byId("positions-count"), `${positions.length}`);
    syncRows(
      byId("position-rows"),
      positions,
      (p) => p.id,
      (p) => [
        p.symbol,
        { node: directionTag(p.direction), key: p.direction ?? "" },
        { text: time(p.entry_time) },
        { text: money(p.entry_price, { places: 2 }), cls: "num", title: p.entry_price ?? "" },
        { text: number(p.size, 4), cls: "num", title: p.size ?? "" },
        moneyCell(p.entry_value, { signed: false }),
        p.strategy_name ?? "—",
      ],
      (p) => h("tr", { "data-testid": "position-row", "data-position-id": p.id }),
    );
  }

  // Closed trades: the first page on open, more pages on demand; a live refresh reloads as many
  // rows as are shown (page by page with the server's cursor) and updates the table in place.
  loadTrades(options) {
    return this.serialised(() => this.reloadTrades(options));
  }

  // "more": one page per click (the button is disabled until that page is shown).
  async loadMoreTrades() {
    const button = byId("trades-more");
    if (button.disabled) return;
    button.disabled = true;
    try {
      await this.serialised(() => this.appendTrades());
    } catch (error) {
      this.onError(error);
    } finally {
      button.disabled = false;
    }
  }

  serialised(work) {
    const run = this.tradesWork.then(work);
    this.tradesWork = run.catch(() => {});
    return run;
  }

  async reloadTrades({ keep = 0 } = {}) {
    const botId = this.botId;
    const rows = [];
    let next = null;
    do {
      const page = await fetchTrades(botId, { after: next, limit: PAGE });
      if (this.botId !== botId) return;
      rows.push(...(page.trades ?? []));
      next = page.next ?? null;
    } while (next !== null && rows.length < keep);
    this.trades = { rows, next };
    this.renderTrades();
  }

  async appendTrades() {
    const botId = this.botId;
    if (this.trades.next === null) return;
    const page = await fetchTrades(botId, { after: this.trades.next, limit: PAGE });
    if (this.botId !== botId) return;
    const seen = new Set(this.trades.rows.map((t) => t.id));
    this.trades.rows.push(...(page.trades ?? []).filter((t) => !seen.has(t.id)));
    this.trades.next = page.next ?? null;
    this.renderTrades();
  }

  renderTrades() {
    const { rows, next } = this.trades;
    setText(byId("trades-count"), `${count(rows.length)} shown${next !== null ? ", more available" : ""}`);
    byId("trades-more").hidden = next === null;
    syncRows(
      byId("trade-rows"),
      rows,
      (t) => t.id,
      (t) => [
        t.symbol,
        { node: directionTag(t.direction), key: t.direction ?? "" },
        { text: shortTime(t.entry_time), title: t.entry_time ?? "" },
        { text: shortTime(t.exit_time), title: t.exit_time ?? "" },
        { text: money(t.entry_price), cls: "num", title: t.entry_price ?? "" },
        { text: money(t.exit_price), cls: "num", title: t.exit_price ?? "" },
        { text: number(t.size, 4), cls: "num", title: t.size ?? "" },
        moneyCell(t.net_pnl),
        { text: number(t.pnl_percentage, 2), cls: `num ${tone(t.pnl_percentage)}` },
        t.exit_reason ?? "—",
        t.strategy_name ?? "—",
      ],
      (t) => h("tr", { "data-testid": "trade-row", "data-trade-id": t.id }),
    );
  }
}

function directionTag(direction) {
  return h("span", { class: `dir dir-${direction}`, text: direction ?? "—" });
}

// The heartbeat timeline: each slot is a bucket of time (a minute, or an hour once rolled up) in
// which the bot heartbeated. Slots of one status merge into one run, drawn at its place on the
// time axis (from the first slot to now), across a gap of at most one slot (a bot beating every
// 70 s leaves a minute without a beat now and then: that is not downtime); longer gaps are
// silence.
function uptimeRuns(uptime) {
  const runs = [];
  for (const slot of uptime) {
    const start = epochSeconds(slot.t);
    if (start === null) continue;
    const end = start + Number(slot.seconds || 60);
    const last = runs[runs.length - 1];
    if (last && last.status === slot.status && start - last.end <= end - start) {
      last.end = Math.max(last.end, end);
      last.heartbeats += Number(slot.heartbeats || 0);
    } else {
      runs.push({ start, end, status: slot.status ?? "", heartbeats: Number(slot.heartbeats || 0) });
    }
  }
  return runs;
}

function renderUptime(box, uptime, nowSeconds) {
  const runs = uptimeRuns(uptime);
  box.dataset.slots = String(uptime.length);
  if (!runs.length) {
    box.replaceChildren();
    return { up: 0, span: 0, beats: 0 };
  }
  const from = runs[0].start;
  const to = Math.max(runs[runs.length - 1].end, nowSeconds);
  const span = Math.max(1, to - from);
  while (box.children.length > runs.length) box.lastElementChild.remove();
  while (box.children.length < runs.length) box.append(h("i", { "data-testid": "uptime-run" }));
  runs.forEach((run, i) => {
    const el = box.children[i];
    setAttr(el, "class", `run status-${run.status}`);
    setAttr(el, "data-status", run.status);
    setAttr(el, "style", `left:${(100 * (run.start - from)) / span}%;width:${(100 * (run.end - run.start)) / span}%`);
    setAttr(
      el,
      "title",
      `${time(new Date(run.start * 1000).toISOString())} – ${time(new Date(run.end * 1000).toISOString())}: ${run.status}, ${count(run.heartbeats)} heartbeats`,
    );
  });
  setAttr(box, "data-from", new Date(from * 1000).toISOString());
  const up = runs.reduce((sum, run) => sum + (run.end - run.start), 0);
  const beats = runs.reduce((sum, run) => sum + run.heartbeats, 0);
  return { up, span, beats };
}
