// The kanban board: drag a card to another column to move the deal (POST with the page's
// CSRF token). A lost stage asks for the reason on the deal card. Without JavaScript each
// card has its own move form.
(function () {
  "use strict";
  var board = document.querySelector("[data-testid=board]");
  if (!board) return;
  var token = document.querySelector("meta[name=csrf-token]").content;
  var status = document.getElementById("board-status");
  var dragged = null;
  board.querySelectorAll(".sales-nojs-move").forEach(function (el) { el.hidden = true; });
  board.addEventListener("dragstart", function (event) {
    dragged = event.target.closest(".sales-card");
    if (dragged) event.dataTransfer.setData("text/plain", dragged.dataset.dealId);
  });
  board.querySelectorAll(".sales-column").forEach(function (column) {
    var list = column.querySelector(".sales-drop");
    column.addEventListener("dragover", function (event) {
      event.preventDefault();
      list.classList.add("sales-over");
    });
    column.addEventListener("dragleave", function () { list.classList.remove("sales-over"); });
    column.addEventListener("drop", function (event) {
      event.preventDefault();
      list.classList.remove("sales-over");
      if (!dragged || dragged.closest(".sales-column") === column) return;
      var card = dragged;
      var from = card.closest(".sales-column");
      var id = card.dataset.dealId;
      var stage = column.dataset.stageId;
      if (column.dataset.stageKind === "lost") {
        window.location = board.dataset.cardUrl.replace(/0$/, id) + "?lose=" + stage + "#lost";
        return;
      }
      var body = new URLSearchParams({csrf_token: token, stage_id: stage, version: card.dataset.version});
      list.prepend(card);
      fetch(board.dataset.moveUrl.replace(/0\/move$/, id + "/move"), {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRFToken": token}
      }).then(function (response) {
        return response.json().then(function (data) { return {ok: response.ok, data: data}; });
      }).then(function (result) {
        if (!result.ok) throw new Error(Object.values(result.data.errors || {}).join(" "));
        card.dataset.version = result.data.version;
        status.textContent = column.querySelector("h2").firstChild.textContent.trim() + ": " + card.querySelector("a").textContent;
        [from, column].forEach(function (col) {
          var badge = col.querySelector("[data-testid=count]");
          badge.textContent = String(Number(badge.textContent) + (col === column ? 1 : -1));
        });
      }).catch(function (error) {
        from.querySelector(".sales-drop").prepend(card);
        status.textContent = error.message || "The deal could not be moved.";
      });
    });
  });
})();
