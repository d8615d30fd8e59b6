// Progressive enhancement: a section with data-progress-url polls it every second, moves
// its <progress> bar and figures, and reloads the page when the work has finished.
(function () {
  const box = document.querySelector("[data-progress-url]");
  if (!box) return;
  const bar = box.querySelector("progress");
  async function poll() {
    try {
      const response = await fetch(box.dataset.progressUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      const state = await response.json();
      for (const [name, value] of Object.entries(state)) {
        const field = box.querySelector(`[data-field="${name}"]`);
        if (field) field.textContent = value;
      }
      bar.max = Math.max(state.total_rows, state.processed, 1);
      bar.value = state.processed;
      if (state.status !== "queued" && state.status !== "running") {
        window.location.reload();
        return;
      }
    } catch (error) {
      // The server may be restarting: try again at the next tick.
    }
    window.setTimeout(poll, 1000);
  }
  window.setTimeout(poll, 1000);
})();
