// Live numbers for the bulk re-embed jobs page: polls the status JSON, never writes HTML from it.
(function () {
  "use strict";

  function render(root, job) {
    const row = root.querySelector('tr[data-job="' + job.id + '"]');
    if (!row) return;
    const values = {...job, rate: job.rate === null ? "\u2014" : job.rate};
    row.querySelectorAll("[data-field]").forEach((el) => {
      const value = values[el.dataset.field];
      if (value === undefined) return;
      if (el.tagName === "PROGRESS") el.value = value;
      else el.textContent = typeof value === "number" ? value.toLocaleString("en-US") : value;
    });
    row.querySelectorAll("form[data-show]").forEach((form) => {
      form.hidden = !form.dataset.show.split(" ").includes(job.state);
    });
  }

  function start() {
    const root = document.getElementById("vs-jobs");
    if (!root) return;
    const updated = document.getElementById("vs-updated");
    const shown = root.dataset.active ? root.dataset.active.split(",").sort().join(",") : "";

    async function refresh() {
      if (document.hidden) return;  // no polling from background tabs
      try {
        const response = await fetch(root.dataset.url, {headers: {Accept: "application/json"}, credentials: "same-origin"});
        if (!response.ok) throw new Error("HTTP " + response.status);
        const data = await response.json();
        const active = data.jobs.filter((job) => job.active);
        // A job started or ended elsewhere: the page's rows no longer fit, so load it again.
        if (active.map((job) => String(job.id)).sort().join(",") !== shown) {
          window.location.reload();
          return;
        }
        active.forEach((job) => render(root, job));
        updated.className = "";
        updated.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      } catch (error) {
        updated.className = "vs-error";
        updated.textContent = "Could not refresh (" + error.message + ").";
      }
    }

    refresh();
    setInterval(refresh, 2000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
