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

  document.addEventListener("DOMContentLoaded", function () { drawSparklines(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawSparklines(event.target); });
})();
