// Charts on the vendored uPlot (static/vendor/uplot, MIT). A chart is created once and then fed
// new data with setData, so a live update redraws the canvas without touching the page around it.

const uPlot = window.uPlot;
// Times are UTC on this page, axes included (not the browser's zone).
const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");

const COLORS = {
  axis: "#8b949e",
  grid: "rgba(139, 148, 158, 0.14)",
  line: "#58a6ff",
  fill: "rgba(88, 166, 255, 0.12)",
  gain: "#3fb950",
  loss: "#f85149",
  alt: "#d29922",
};

function axes(xValues, xSpace = 50) {
  const common = {
    stroke: COLORS.axis,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { stroke: COLORS.grid, width: 1 },
    font: "11px system-ui, sans-serif",
  };
  return [{ ...common, space: xSpace, ...(xValues ? { values: xValues } : {}) }, { ...common, size: 64 }];
}

// A chart bound to a container element (which carries the data-testid). Its element records how
// many points it drew (data-points) so tests, and people, can tell an empty chart from a drawn one.
export class Chart {
  constructor(container, makeOptions, height = 220) {
    this.container = container;
    this.makeOptions = makeOptions;
    this.height = height;
    this.plot = null;
    this.empty = container.querySelector(".chart-empty");
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(container);
  }

  width() {
    return Math.max(200, Math.floor(this.container.clientWidth || 600));
  }

  fit() {
    if (this.plot && this.plot.width !== this.width()) {
      this.plot.setSize({ width: this.width(), height: this.height });
    }
  }

  // data: uPlot's columnar arrays [xs, ys1, ...]; labels: optional per-x labels (bar charts).
  update(data, extra = {}) {
    const points = data[0].length;
    this.container.dataset.points = String(points);
    if (this.empty) this.empty.hidden = points > 0;
    const shape = JSON.stringify(extra.shape ?? null);
    if (this.plot && this.shape !== shape) {
      this.plot.destroy();
      this.plot = null;
    }
    this.extra = extra;
    if (!this.plot) {
      this.shape = shape;
      const options = {
        width: this.width(),
        height: this.height,
        legend: { show: extra.legend ?? false },
        cursor: { drag: { x: false, y: false } },
        tzDate: utc,
        ...this.makeOptions(this),
      };
      this.plot = new uPlot(options, data, this.container);
    } else {
      this.plot.setData(data);
    }
  }
}

// Dots on a line only while there are few points (one point alone draws no line at all).
const sparse = { show: (u) => u.data[0].length <= 60, size: 6 };

// Cumulative PnL / equity over time: one line.
export function lineChart(container, label, color = COLORS.line, fill = COLORS.fill) {
  return new Chart(container, () => ({
    scales: { x: { time: true } },
    axes: axes(),
    series: [{}, { label, stroke: color, fill, width: 1.5, points: { ...sparse, fill: color } }],
  }));
}

// Several lines sharing one time axis (legend shown).
export function multiLineChart(container, labels) {
  const palette = [COLORS.line, COLORS.alt, COLORS.gain];
  return new Chart(container, () => ({
    scales: { x: { time: true } },
    axes: axes(),
    series: [
      {},
      ...labels.map((label, i) => ({
        label,
        stroke: palette[i % palette.length],
        width: 1.5,
        points: { ...sparse, fill: palette[i % palette.length] },
      })),
    ],
  }));
}

// Bars per period (x = index, labelled by the period's name), gains green and losses red: two
// series, each null where the other has the value.
export function periodBarChart(container) {
  const bars = uPlot.paths.bars({ size: [0.7, 48], gap: 1 });
  return new Chart(container, (chart) => ({
    scales: { x: { time: false, range: (_u, min, max) => [min - 0.6, max + 0.6] } },
    axes: axes(
      (_u, ticks) => ticks.map((i) => (Number.isInteger(i) ? (chart.extra.labels?.[i] ?? "") : "")),
      60,
    ),
    series: [
      {},
      { label: "gain", fill: COLORS.gain, stroke: COLORS.gain, paths: bars, points: { show: false } },
      { label: "loss", fill: COLORS.loss, stroke: COLORS.loss, paths: bars, points: { show: false } },
    ],
  }));
}

// uPlot's columns for a time series: [seconds since the epoch, values], in time order (uPlot
// needs ascending x), points without a time left out. For plotting only: values are floats.
export function timeSeries(items, timeOf, valueOf) {
  const rows = items
    .map((item) => [Date.parse(timeOf(item)) / 1000, valueOf(item)])
    .filter(([t]) => Number.isFinite(t))
    .sort((a, b) => a[0] - b[0]);
  return [rows.map(([t]) => t), rows.map(([, v]) => v)];
}

export const chartColors = COLORS;
