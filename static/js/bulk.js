// Bulk actions on the instance list: count the ticked rows, enable the buttons that apply, and ask
// one confirmation naming how many instances and which. The rows' checkboxes live in the polled
// list and belong to #bulk-form through their form attribute; hx-preserve keeps them (and their
// ticks) across the list's refreshes. The server checks every row again.
(function () {
  "use strict";

  var VERBS = { stop: ["Stop", "stopped"], start: ["Start", "started"], destroy: ["Destroy", "destroyed"] };

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("input[name=ids][form=bulk-form]"));
  }

  function cell(box) {
    return box.closest("[data-bulk-actions]");
  }

  function fits(box, verb) {
    var row = cell(box);
    return !!row && (row.getAttribute("data-bulk-actions") || "").split(" ").indexOf(verb) >= 0;
  }

  function update() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var all = boxes();
    var ticked = all.filter(function (box) { return box.checked; });
    var master = document.querySelector("[data-bulk-all]");
    if (master) {
      master.checked = all.length > 0 && ticked.length === all.length;
      master.indeterminate = ticked.length > 0 && ticked.length < all.length;
    }
    form.hidden = all.length === 0;
    form.querySelector("[data-bulk-count]").textContent = ticked.length
      ? ticked.length + " selected"
      : "Tick instances to stop, start or destroy several at once.";
    form.querySelectorAll("button[data-bulk-action]").forEach(function (button) {
      var verb = button.getAttribute("data-bulk-action");
      button.disabled = !ticked.some(function (box) { return fits(box, verb); });
    });
  }

  function question(verb) {
    var ticked = boxes().filter(function (box) { return box.checked; });
    var fit = ticked.filter(function (box) { return fits(box, verb); });
    var names = fit.map(function (box) { return cell(box).getAttribute("data-bulk-name"); });
    var words = VERBS[verb];
    var text = words[0] + " " + fit.length + " instance" + (fit.length === 1 ? "" : "s") + ": " + names.join(", ") + "?";
    if (verb === "destroy") text += " Their disks and data are deleted; this cannot be undone.";
    if (verb === "start") {
      var total = fit.reduce(function (sum, box) { return sum + (parseFloat(cell(box).getAttribute("data-bulk-price")) || 0); }, 0);
      text += " Together they bill about $" + total.toFixed(3) + "/hr while running.";
    }
    if (verb === "stop") {
      var owners = fit.map(function (box) { return cell(box).getAttribute("data-bulk-owner"); }).filter(Boolean);
      var unique = owners.filter(function (o, i) { return owners.indexOf(o) === i; });
      if (unique.length) text += " Not all are yours (" + unique.join(", ") + "): the audit log records that you stopped them.";
    }
    var others = ticked.length - fit.length;
    if (others) text += " " + others + " other selected instance" + (others === 1 ? " is" : "s are") + " not " + words[1] + " (not allowed, or nothing to do).";
    return text;
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-bulk-all]")) {
      var on = event.target.checked;
      boxes().forEach(function (box) { box.checked = on; });
    }
    if (event.target.matches("[data-bulk-all], input[name=ids][form=bulk-form]")) update();
  });

  // The one confirmation, computed when the button is pressed so it names exactly what is sent.
  document.addEventListener("htmx:confirm", function (event) {
    var button = event.target;
    if (!button.matches || !button.matches("[data-bulk-action]")) return;
    event.preventDefault();
    if (window.confirm(question(button.getAttribute("data-bulk-action")))) event.detail.issueRequest(true);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.matches && elt.matches("[data-bulk-action]") && event.detail.successful) {
      boxes().forEach(function (box) { box.checked = false; });
      update();
    }
  });

  document.addEventListener("htmx:afterSettle", update);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else {
    update();
  }
})();
