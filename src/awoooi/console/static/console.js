// The console's only script: local times with "5 min ago", and refreshing live sections.
// Pages work without it; it adds nothing they need to be used.
(function () {
  "use strict";

  var units = [
    ["year", 31536000], ["month", 2592000], ["week", 604800],
    ["day", 86400], ["hour", 3600], ["minute", 60]
  ];
  var relative = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
    ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" }) : null;
  var absolute = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short"
  });

  function ago(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    if (Math.abs(seconds) < 45) { return "just now"; }
    for (var i = 0; i < units.length; i++) {
      var size = units[i][1];
      if (Math.abs(seconds) >= size || units[i][0] === "minute") {
        var value = Math.round(seconds / size);
        return relative ? relative.format(value, units[i][0])
          : Math.abs(value) + " " + units[i][0] + "s ago";
      }
    }
    return "";
  }

  function formatTimes(scope) {
    var times = scope.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) { continue; }
      var local = absolute.format(date);
      if (el.getAttribute("data-format") === "relative") {
        el.textContent = ago(date);
        el.title = local;
      } else {
        el.textContent = local;
      }
    }
  }

  function busy(region) {
    // Never replace what someone is typing into or about to press.
    var active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) { return true; }
    var fields = region.querySelectorAll("input:not([type=hidden]), textarea, select");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) { return true; }
    }
    return false;
  }

  function refresh(region) {
    if (document.hidden || busy(region)) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/ui/login") !== -1) {
          window.location.assign(response.url);  // signed out meanwhile
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html || busy(region)) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(region.id);
        if (fresh) {
          region.innerHTML = fresh.innerHTML;
          formatTimes(region);
        }
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    formatTimes(document);
    window.setInterval(function () { formatTimes(document); }, 30000);
    var regions = document.querySelectorAll("[data-refresh]");
    for (var i = 0; i < regions.length; i++) {
      var seconds = parseInt(regions[i].getAttribute("data-refresh"), 10);
      if (seconds > 0 && regions[i].id) {
        window.setInterval(refresh.bind(null, regions[i]), seconds * 1000);
      }
    }
  });
})();
