// Behaviour that htmx attributes cannot express. No inline scripts anywhere: the CSP is 'self' only.
(function () {
  "use strict";

  // Offer rows: "Details" shows (htmx loads it on the first click) or hides the row below.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-toggle-details]");
    if (!button) return;
    var details = document.getElementById(button.getAttribute("aria-controls"));
    if (!details) return;
    event.preventDefault();
    var open = details.hasAttribute("hidden");
    details.toggleAttribute("hidden", !open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // The menu button of narrow screens: CSS shows the menu while aria-expanded is "true"; a click
  // elsewhere or Escape closes it.
  function setMenu(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-menu-button]");
    if (button) {
      setMenu(button, button.getAttribute("aria-expanded") !== "true");
      return;
    }
    var open = document.querySelector("[data-menu-button][aria-expanded=true]");
    var menu = open && document.getElementById(open.getAttribute("aria-controls"));
    if (open && !(menu && menu.contains(event.target))) setMenu(open, false);
  });
  document.addEventListener("keydown", function (event) {
    var button = document.querySelector("[data-menu-button][aria-expanded=true]");
    if (event.key !== "Escape" || !button) return;
    setMenu(button, false);
    button.focus();
  });

  // Copy buttons: data-copy holds the text (e.g. an SSH command).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // htmx 2 drops the body of a 4xx/5xx answer. Show the ones the server aimed at a region with
  // HX-Retarget (the 403 and Vast-error messages for #alerts); other errors stay unswapped.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
    }
  });

  // Anything else that fails (a server error, the network, a timeout) still says so in #alerts,
  // rather than leaving a button that seems to do nothing.
  function alertUser(text) {
    var region = document.getElementById("alerts");
    if (!region) return;
    var box = document.createElement("div");
    box.className = "alert alert-error";
    box.setAttribute("role", "alert");
    box.textContent = text;
    region.replaceChildren(box);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.getResponseHeader("HX-Retarget")) return;
    alertUser("The dashboard could not complete that (error " + xhr.status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    alertUser("The dashboard cannot be reached. Check your connection, then try again.");
  });
  document.addEventListener("htmx:timeout", function () {
    alertUser("The dashboard took too long to answer. Try again in a moment.");
  });

  // Times: the server writes UTC into <time data-local datetime="…Z">; show each in the viewer's
  // own time zone, as "2026-01-10 10:00 CET", keeping the UTC time in its title.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function zoneName(date) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      for (var i = 0; i < parts.length; i++) if (parts[i].type === "timeZoneName") return parts[i].value;
    } catch (e) { /* an old browser: no zone name */ }
    return "";
  }
  function localiseTimes(root) {
    if (!root || !root.querySelectorAll) return;
    var times = Array.prototype.slice.call(root.querySelectorAll("time[data-local]"));
    if (root.matches && root.matches("time[data-local]")) times.push(root);
    for (var i = 0; i < times.length; i++) {
      var el = times[i], date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) continue;
      var text = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
        " " + pad(date.getHours()) + ":" + pad(date.getMinutes());
      if (el.hasAttribute("data-seconds")) text += ":" + pad(date.getSeconds());
      if (el.hasAttribute("data-time-only")) text = text.slice(11);
      var zone = zoneName(date);
      el.textContent = zone ? text + " " + zone : text;
    }
  }
  localiseTimes(document);
  document.addEventListener("htmx:load", function (event) { localiseTimes(event.detail.elt); });
})();
