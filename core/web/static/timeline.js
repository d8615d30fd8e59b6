// "Load more" on a timeline: fetch the next items and append them in place; without
// JavaScript the link opens the next page of the timeline instead.
(function () {
  if (window.crmTimeline) return;
  window.crmTimeline = true;
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-timeline-more]");
    if (!link) return;
    event.preventDefault();
    var url = new URL(link.href);
    url.searchParams.set("fragment", "1");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        var item = link.closest("li");
        item.insertAdjacentHTML("afterend", html);
        item.remove();
      })
      .catch(function () { window.location = link.href; });
  });
})();
