// Progressive enhancement for background work (an import, a duplicate scan): the element
// with data-progress-url polls that URL every second for JSON with status, done, total and
// other figures, moves its <progress> bar, puts each figure into the [data-field] of that
// name, and reloads the page when the work is no longer queued or running. Without script
// the page has a link to refresh it.
(function () {
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const bar = box.querySelector("progress");
  async function poll() {
    try {
      const response = await fetch(box.dataset.progressUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const state = await response.json();
        if (state.status !== "queued" && state.status !== "running") {
          window.location.reload();
          return;
        }
        for (const [name, value] of Object.entries(state)) {
          const field = box.querySelector(`[data-field="${name}"]`);
          if (field) field.textContent = value;
        }
        if (bar) {
          bar.max = Math.max(state.total, state.done, 1);
          bar.value = state.done;
        }
      }
    } catch (error) {
      // The server may be restarting: try again at the next tick.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 1000);
})();
