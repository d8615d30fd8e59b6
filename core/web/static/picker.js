// Client fields (macros.html client_picker): suggestions from /clients/pick as the user
// types. What the user picks reads "Name (#123)", which the server takes back; a typed
// name or number works without this script too. Each picker includes this file: the
// listener is added once.
if (!window.crmClientPicker) {
  window.crmClientPicker = true;
  document.addEventListener("input", function (event) {
    const input = event.target.closest("[data-client-picker]");
    if (!input) return;
    clearTimeout(input.pickTimer);
    const typed = input.value.trim();
    if (typed.length < 2 || /\(#\d+\)$/.test(typed)) return;
    input.pickTimer = setTimeout(function () {
      const url = input.dataset.clientPicker + "?q=" + encodeURIComponent(typed);
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (data) {
          if (input.value.trim() !== typed) return; // typed on meanwhile
          const options = data.items.map(function (item) {
            const option = document.createElement("option");
            option.value = item.label;
            if (item.detail) option.label = item.detail;
            return option;
          });
          document.getElementById(input.getAttribute("list")).replaceChildren(...options);
        })
        .catch(function () {});
    }, 150);
  });
}
