/*
 * Patient pages: live enableWhen and autosave. Progressive enhancement only: every page works
 * without this file, because the server decides what is shown each time the page is saved and
 * "Save and continue" saves.
 *
 * enableWhen is evaluated with the semantics of intake.engine.is_enabled, on values read the way
 * the engine would clean them: in document order; a hidden question, an unanswered one, and a
 * value the engine would refuse (not a number, out of range, too long) all count as unanswered;
 * comparisons are type-strict (true never equals 1, "1" never equals 1); "!=" is false until the
 * question is answered; on a multiple choice "=" means "includes". A question inside a repeating
 * group looks first in its own entry, then at the top level. The server renders each item's
 * conditions into data attributes (data-enable-when, data-enable-behavior, data-type, ...).
 *
 * Autosave POSTs the whole form (with its CSRF token) to the page's autosave URL on every change,
 * and while typing after a pause; the server saves through the same service as the API and
 * answers with any messages, which are put next to their question.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }

  // A submit button marked data-once is disabled after the first click (no double submit).
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (button && button.hasAttribute("data-once")) {
      window.setTimeout(function () { button.disabled = true; }, 0);
    }
  });

  var form = document.querySelector("form[data-autosave-url]");
  if (!form) {
    return;
  }

  var DEFAULT_MAX_LENGTH = { string: 1000, text: 10000 };
  var INT_RE = /^[+-]?[0-9]{1,15}$/;
  var DECIMAL_RE = /^[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})$/;
  var DATE_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
  var has = function (object, key) { return Object.prototype.hasOwnProperty.call(object, key); };

  // --- enableWhen, as intake.engine ---------------------------------------------------------------

  function isAnswered(value) {
    if (value === null || value === undefined) { return false; }
    if (typeof value === "string") { return value.trim() !== ""; }
    if (Array.isArray(value)) { return value.length > 0; }
    return true;
  }

  function isNumber(value) {
    return typeof value === "number" && isFinite(value);
  }

  function same(a, b) {
    if (typeof a === "boolean" || typeof b === "boolean") { return a === b; }
    if (typeof a === "string" || typeof b === "string") { return a === b; }
    return isNumber(a) && isNumber(b) && a === b;
  }

  function test(value, operator, expected) {
    if (typeof value === "string") { value = value.trim(); }
    if (operator === "exists") { return isAnswered(value) === expected; }
    if (!isAnswered(value)) { return false; }
    if (Array.isArray(value)) {
      if (operator === "!=") {
        return !value.some(function (v) { return same(v, expected); });
      }
      return value.some(function (v) { return !Array.isArray(v) && test(v, operator, expected); });
    }
    if (operator === "=" || operator === "!=") {
      return same(value, expected) === (operator === "=");
    }
    var comparable = (isNumber(value) && isNumber(expected)) ||
      (typeof value === "string" && typeof expected === "string");
    if (!comparable) { return false; }
    switch (operator) {
      case ">": return value > expected;
      case "<": return value < expected;
      case ">=": return value >= expected;
      case "<=": return value <= expected;
      default: return false;
    }
  }

  function conditionsHold(element, top, row) {
    var raw = element.getAttribute("data-enable-when");
    if (!raw) { return true; }
    var conditions = JSON.parse(raw);
    var lookup = function (question) {
      if (row && has(row, question)) { return row[question]; }
      return has(top, question) ? top[question] : null;
    };
    var results = conditions.map(function (c) { return test(lookup(c.question), c.operator, c.answer); });
    if (element.getAttribute("data-enable-behavior") === "any") {
      return results.some(Boolean);
    }
    return results.every(Boolean);
  }

  function validDate(text) {
    if (!DATE_RE.test(text)) { return false; }
    var parts = text.split("-").map(Number);
    var date = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2]));
    return date.getUTCFullYear() === parts[0] && date.getUTCMonth() === parts[1] - 1 &&
      date.getUTCDate() === parts[2];
  }

  // The value the engine would store for this question, or null if it would store none.
  function readValue(element) {
    var type = element.getAttribute("data-type");
    if (type === "boolean" || type === "choice") {
      var checked = element.querySelector("input[type=radio]:checked");
      return checked ? JSON.parse(checked.getAttribute("data-json")) : null;
    }
    if (type === "multi") {
      var values = Array.prototype.map.call(
        element.querySelectorAll("input[type=checkbox]:checked"),
        function (input) { return JSON.parse(input.getAttribute("data-json")); }
      );
      return values.length ? values : null;
    }
    var input = element.querySelector("input, textarea");
    var text = input ? input.value.trim() : "";
    if (!text) { return null; }
    if (type === "integer" || type === "decimal") {
      if (!(type === "integer" ? INT_RE : DECIMAL_RE).test(text)) { return null; }
      var number = Number(text);
      var min = element.getAttribute("data-min");
      var max = element.getAttribute("data-max");
      if (!isFinite(number)) { return null; }
      if (min !== null && number < Number(min)) { return null; }
      if (max !== null && number > Number(max)) { return null; }
      return number;
    }
    if (type === "date") {
      return validDate(text) ? text : null;
    }
    var limit = Number(element.getAttribute("data-max-length")) || DEFAULT_MAX_LENGTH[type] || 1000;
    if (Array.from(text).length > limit || text.indexOf("\u0000") !== -1) { return null; }
    return text;
  }

  var shownInput = form.querySelector("input[name=_shown]");

  function evaluate() {
    var top = {};
    var rows = new Map();
    var enabledOf = new Map();
    var shown = [];
    form.querySelectorAll("[data-item]").forEach(function (element) {
      var parent = element.parentElement.closest("[data-item]");
      var parentEnabled = parent ? enabledOf.get(parent) !== false : true;
      var rowElement = element.closest("[data-row]");
      var row = null;
      if (rowElement) {
        row = rows.get(rowElement) || {};
        rows.set(rowElement, row);
      }
      var enabled = parentEnabled && conditionsHold(element, top, row);
      enabledOf.set(element, enabled);
      element.hidden = !enabled;
      var type = element.getAttribute("data-type");
      if (!enabled || type === "section" || type === "display") { return; }
      shown.push(element.getAttribute("data-key"));
      if (type === "repeat") { return; }
      var value = readValue(element);
      if (value !== null) {
        (row || top)[element.getAttribute("data-link-id")] = value;
      }
    });
    if (shownInput) { shownInput.value = shown.join(" "); }
  }

  // --- messages beside questions ------------------------------------------------------------------

  function setTokens(element, attribute, token, present) {
    var tokens = (element.getAttribute(attribute) || "").split(/\s+/).filter(Boolean);
    var index = tokens.indexOf(token);
    if (present && index === -1) { tokens.push(token); }
    if (!present && index !== -1) { tokens.splice(index, 1); }
    if (tokens.length) {
      element.setAttribute(attribute, tokens.join(" "));
    } else {
      element.removeAttribute(attribute);
    }
  }

  function showMessages(container, messages) {
    var key = container.getAttribute("data-key");
    var slot = document.getElementById("e-" + key);
    if (!slot) { return; }
    var present = messages.length > 0;
    slot.textContent = "";
    messages.forEach(function (message) {
      var prefix = document.createElement("span");
      prefix.className = "visually-hidden";
      prefix.textContent = form.getAttribute("data-msg-error") + " ";
      slot.appendChild(prefix);
      slot.appendChild(document.createTextNode(message + " "));
    });
    slot.hidden = !present;
    container.classList.toggle("has-error", present);
    var described = container.matches("fieldset") ? container : container.querySelector("input, textarea");
    if (described) {
      setTokens(described, "aria-describedby", slot.id, present);
      if (!container.matches("fieldset")) {
        if (present) { described.setAttribute("aria-invalid", "true"); } else { described.removeAttribute("aria-invalid"); }
      }
    }
    if (!present && summary) {
      var item = summary.querySelector('li[data-key="' + key.replace(/"/g, "") + '"]');
      if (item) { item.remove(); }
      if (!summary.querySelector("li")) { summary.hidden = true; }
    }
  }

  function applyErrors(errors, changed) {
    form.querySelectorAll("[data-item][data-key]").forEach(function (container) {
      var key = container.getAttribute("data-key");
      if (has(errors, key)) {
        showMessages(container, errors[key]);
      } else if (changed && container === changed) {
        showMessages(container, []);
      }
    });
  }

  // --- autosave -----------------------------------------------------------------------------------

  var url = form.getAttribute("data-autosave-url");
  var status = document.getElementById("save-status");
  var timer = null;
  var inFlight = false;
  var queued = null;
  var dirty = false;
  var lastStatus = "";

  function say(name) {
    var text = form.getAttribute("data-msg-" + name) || "";
    if (status && text !== lastStatus) {
      status.textContent = text;
      lastStatus = text;
    }
  }

  function save(changed) {
    window.clearTimeout(timer);
    if (inFlight) {
      queued = { changed: changed || (queued && queued.changed) };
      return;
    }
    inFlight = true;
    dirty = false;
    var focused = document.activeElement;
    fetch(url, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (result.body.location) {
        window.location.assign(result.body.location);
        return;
      }
      if (!result.ok) { throw new Error("not saved"); }
      var errors = result.body.errors || {};
      // While typing, do not interrupt the field being typed in; its message comes on leaving it.
      if (!changed && focused && form.contains(focused)) {
        var typing = focused.closest("[data-item]");
        if (typing && has(errors, typing.getAttribute("data-key"))) {
          errors = Object.assign({}, errors);
          delete errors[typing.getAttribute("data-key")];
        }
      }
      applyErrors(errors, changed);
      say(Object.keys(result.body.errors || {}).length ? "invalid" : "saved");
    }).catch(function () {
      dirty = true;
      say("failed");
    }).then(function () {
      inFlight = false;
      if (queued) {
        var next = queued;
        queued = null;
        save(next.changed);
      }
    });
  }

  form.addEventListener("change", function (event) {
    evaluate();
    save(event.target.closest("[data-item]"));
  });

  form.addEventListener("input", function () {
    evaluate();
    dirty = true;
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { save(null); }, 1500);
  });

  // Leaving the page (closing the tab, switching app) saves what was typed since the last save.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden" && dirty && navigator.sendBeacon) {
      dirty = false;
      navigator.sendBeacon(url, new FormData(form));
    }
  });

  form.addEventListener("submit", function () {
    window.clearTimeout(timer);
    dirty = false;
  });

  evaluate();
})();
