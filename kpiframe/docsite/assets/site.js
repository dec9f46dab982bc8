// kpiframe docs site: the metric search, and drawing the charts whose figures the page embeds as JSON.
"use strict";

function setUpSearch() {
  const input = document.getElementById("search");
  if (!input) return;
  const rows = Array.from(document.querySelectorAll("#catalog tbody tr"));
  const count = document.getElementById("search-count");
  const none = document.getElementById("no-match");
  const apply = () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const text = row.dataset.search || "";
      const match = words.every((word) => text.includes(word));
      row.hidden = !match;
      if (match) shown += 1;
    }
    count.textContent = `${shown} of ${rows.length} metrics`;
    none.hidden = shown > 0;
  };
  input.addEventListener("input", apply);
  const wanted = new URLSearchParams(window.location.search).get("q");
  if (wanted) {
    input.value = wanted;
    apply();
  }
}

function drawCharts() {
  const divs = document.querySelectorAll("div.chart[data-figure]");
  if (divs.length === 0) return;
  if (typeof Plotly === "undefined") {
    console.error("plotly.min.js did not load: charts cannot be drawn");
    return;
  }
  for (const div of divs) {
    const figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    Plotly.newPlot(div, figure.data, figure.layout, { displaylogo: false, responsive: true })
      .then(() => div.setAttribute("data-drawn", "true"));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpSearch();
  drawCharts();
});
