// The offers table: a row's Details loads every field of the offer into the hidden row below it
// on the first click (static/js/app.js shows and hides that row). Done here rather than with
// hx-get on each of the 64 rows' links: the same URL twice in every row was a tenth of the page.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var link = event.target.closest("table.offers [data-toggle-details]");
    if (!link || !window.htmx) return;
    var row = document.getElementById(link.getAttribute("aria-controls"));
    var cell = row && row.firstElementChild;
    if (!cell || cell.hasAttribute("data-loaded")) return;
    cell.setAttribute("data-loaded", "");
    window.htmx.ajax("GET", link.getAttribute("href"), { target: cell, swap: "innerHTML" });
  });

  // The filters start folded on a narrow screen (the results come first) and are always open on a
  // wide one, where their summary is hidden.
  var narrow = window.matchMedia("(max-width: 900px)");
  function fitFilters() {
    var panel = document.querySelector(".filters-panel");
    if (panel) panel.open = !narrow.matches;
  }
  fitFilters();
  narrow.addEventListener("change", fitFilters);
})();
