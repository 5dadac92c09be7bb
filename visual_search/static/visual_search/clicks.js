/* Counts a click on a result (visual_search.analytics): the link keeps the product's own URL, and a
 * beacon to its data-vs-click address reports the click without delaying the page that opens. */
(function () {
  "use strict";
  if (window.vsClicksReady) return;  // the carousel and the search page may both load this file
  window.vsClicksReady = true;

  function report(event) {
    if (event.type === "auxclick" && event.button !== 1) return;  // only the middle button opens a link
    var link = event.target.closest && event.target.closest("a[data-vs-click]");
    if (!link || !navigator.sendBeacon) return;
    navigator.sendBeacon(link.getAttribute("data-vs-click"));
  }

  document.addEventListener("click", report, true);
  document.addEventListener("auxclick", report, true);
})();
