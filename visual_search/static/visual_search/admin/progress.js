// Live numbers for the embedding progress page: polls its JSON, never writes HTML from it.
(function () {
  "use strict";
  function start() {
    const root = document.getElementById("vs-progress");
    const updated = document.getElementById("vs-updated");
    const format = (value) => typeof value === "number" ? value.toLocaleString("en-US") : value;

    function render(data) {
      root.querySelectorAll("[data-field]").forEach((el) => {
        let value = el.dataset.field.split(".").reduce((obj, key) => obj && obj[key], data);
        if (typeof value === "boolean") value = value ? "present" : "missing";
        if (value !== undefined) el.textContent = format(value);
      });
      // Bar segments: fully ready, then settled with failures; the rest is still to embed.
      const total = data.total || 1;
      root.querySelector(".vs-bar .vs-ready").style.width = (100 * data.ready / total) + "%";
      root.querySelector(".vs-bar .vs-failed").style.width = (100 * (data.settled - data.ready) / total) + "%";
      root.querySelector(".vs-bar").setAttribute("aria-valuenow", data.percent_ready);
      updated.className = "";
      updated.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    }

    async function refresh() {
      if (document.hidden) return;  // no polling from background tabs
      try {
        const response = await fetch(root.dataset.url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (!response.ok) throw new Error("HTTP " + response.status);
        render(await response.json());
      } catch (error) {
        updated.className = "vs-error";
        updated.textContent = "Could not refresh (" + error.message + ").";
      }
    }

    // Widths come from data attributes: the Content-Security-Policy blocks style attributes.
    root.querySelectorAll(".vs-bar [data-width]").forEach((el) => { el.style.width = el.dataset.width + "%"; });
    setInterval(refresh, 3000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
