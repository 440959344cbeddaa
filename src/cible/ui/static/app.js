// Cible admin UI: sparklines with uPlot. Loaded as a file (the content-security policy allows no
// inline script); htmx reads its configuration from the htmx-config meta tag.
(function () {
  "use strict";

  function drawSparklines(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll(".sparkline[data-series]").forEach(function (el) {
      if (el.dataset.drawn) { return; }
      el.dataset.drawn = "1";
      var ys = el.dataset.series.split(",").map(Number);
      var xs = ys.map(function (_, i) { return i; });
      var opts = {
        width: el.clientWidth || 120,
        height: el.clientHeight || 28,
        pxAlign: false,
        cursor: { show: false },
        legend: { show: false },
        scales: { x: { time: false }, y: { range: [0, Math.max(1, Math.max.apply(null, ys))] } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: "#0b57d0", width: 1.5, fill: "rgba(11, 87, 208, 0.12)" }],
      };
      new uPlot(opts, [xs, ys], el);
    });
  }

  function drawBarCharts(root) {
    if (typeof uPlot === "undefined") { return; }
    root.querySelectorAll(".barchart[data-values]").forEach(function (el) {
      var ys = el.dataset.values.split(",").map(function (v) { return Number(v) * 100; });
      var labels = el.dataset.labels.split("|");
      var xs = ys.map(function (_, i) { return i; });
      var opts = {
        width: Math.min(el.clientWidth || 600, 640),
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [-0.5, ys.length - 0.5] }, y: { range: [0, Math.max(1, Math.max.apply(null, ys) * 1.2)] } },
        axes: [
          { splits: function () { return xs; }, values: function (_, ticks) { return ticks.map(function (t) { return labels[t] || ""; }); } },
          { label: "Conversion rate, %", size: 60 },
        ],
        series: [{}, { label: "Conversion rate", fill: "rgba(11, 87, 208, 0.35)", stroke: "#0b57d0", paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
      };
      new uPlot(opts, [xs, ys], el);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawSparklines(document); drawBarCharts(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawSparklines(event.target); });
})();
