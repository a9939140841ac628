/* Trappa taper planner: the page's only script (no build step, no library).
 *
 * It computes nothing clinical: every change asks the service (POST /taper/schedule) for the schedule,
 * its chart (server-drawn SVG) and the patient's print-out, and shows them only once the answer has the
 * shape it expects ("shows nothing until it has data it trusts"). The page's authority (a card's
 * proposal id today) is sent as the Authorization header; window.TrappaPlanner is the seam another
 * authority (a SMART session) uses to save the chosen schedule.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("planner-config").textContent);
  var T = config.texts;
  var $ = function (id) { return document.getElementById(id); };

  var proposal = config.proposal;
  var state = {
    drug: { ingredient: proposal.drug.ingredient, form: proposal.drug.form,
            combination: proposal.drug.combination || [], strengths: null },
    startDailyDose: proposal.startDailyDose,
    startDate: proposal.startDate,
    pace: { preset: proposal.pace },
    split: "evening",
    holds: [],
    followUp: null
  };
  var last = null;        // the last answer trusted
  var sequence = 0;       // answers to older requests are dropped
  var timer = null;

  function body(views) {
    var b = { drug: { ingredient: state.drug.ingredient, form: state.drug.form,
                      combination: state.drug.combination },
              startDailyDose: state.startDailyDose, startDate: state.startDate, pace: state.pace,
              split: state.split, holds: state.holds };
    if (state.drug.strengths) { b.drug.strengths = state.drug.strengths; }
    if (state.followUp) { b.followUp = state.followUp; }
    if (views) { b.views = views; }
    return b;
  }

  function headers() {
    var h = { "Content-Type": "application/json", "Accept-Language": config.lang };
    if (config.authorization) { h.Authorization = config.authorization; }
    return h;
  }

  function post(url, payload) {
    return fetch(url, { method: "POST", headers: headers(), body: JSON.stringify(payload),
                        credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  }

  /* --- what the page trusts ------------------------------------------------------------------ */

  function isNum(x) { return typeof x === "number" && isFinite(x); }

  function trusted(a) {
    if (!a || typeof a !== "object" || !Array.isArray(a.steps) || a.steps.length < 1) { return false; }
    if (!a.table || !Array.isArray(a.table.head) || !Array.isArray(a.table.rows)) { return false; }
    if (a.table.rows.length !== a.steps.length + 1) { return false; }
    if (!a.views || typeof a.views.chart !== "string" || a.views.chart.indexOf("<svg") !== 0) { return false; }
    if (typeof a.views.print !== "string") { return false; }
    var previous = Infinity;
    for (var i = 0; i < a.steps.length; i++) {
      var s = a.steps[i];
      if (!isNum(s.dailyDose) || !isNum(s.days) || s.days < 1 || typeof s.start !== "string") { return false; }
      if (s.dailyDose >= previous) { return false; }  // a taper never raises the dose
      previous = s.dailyDose;
    }
    return Array.isArray(a.products) && Array.isArray(a.warnings);
  }

  /* --- asking the service -------------------------------------------------------------------- */

  function update() {
    var mine = ++sequence;
    $("main").setAttribute("aria-busy", "true");
    post(config.api.schedule, body(["chart", "print"])).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, status: response.status, data: data }; },
                                  function () { return { ok: false, status: response.status, data: null }; });
    }).then(function (r) {
      if (mine !== sequence) { return; }
      $("main").setAttribute("aria-busy", "false");
      if (!r.ok) { return failed(outcomeText(r.data) || ("HTTP " + r.status)); }
      if (!trusted(r.data)) { return failed(T.untrusted); }
      render(r.data);
    }).catch(function () {
      if (mine !== sequence) { return; }
      $("main").setAttribute("aria-busy", "false");
      failed(T.untrusted);
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  }

  function outcomeText(data) {
    if (data && data.resourceType === "OperationOutcome" && data.issue && data.issue[0]) {
      return data.issue[0].diagnostics || data.issue[0].code;
    }
    return null;
  }

  function failed(message) {
    // A schedule that no longer matches the controls is not shown.
    $("results").hidden = true;
    $("print-area").textContent = "";
    var box = $("error");
    box.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = T.failed + ": ";
    box.appendChild(strong);
    box.appendChild(document.createTextNode(message));
    box.hidden = false;
    $("status").textContent = T.failed;
    $("planner").hidden = !controlsBuilt;  // the controls stay, to correct what was wrong
  }

  /* --- drawing the answer -------------------------------------------------------------------- */

  var controlsBuilt = false;

  function fmt(x) {
    var s = String(Math.round(x * 100) / 100);
    return config.lang === "sv" ? s.replace(".", ",") : s;
  }

  function unitText(unit) { return unit === "ug/h" ? "µg/h" : (config.lang === "sv" ? "mg/dygn" : "mg/day"); }

  function productKey(p) { return p.form + "|" + (p.combination || []).join("/"); }

  function buildControls(a) {
    var select = $("product");
    select.textContent = "";
    a.products.forEach(function (p) {
      var o = document.createElement("option");
      o.value = productKey(p);
      o.textContent = config.lang === "sv" ? p.product : p.productEn;
      select.appendChild(o);
    });
    var paces = $("paces");
    paces.textContent = "";
    config.paces.forEach(function (p) {
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "radio";
      input.name = "pace";
      input.value = p.value;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + p.label));
      paces.appendChild(label);
    });
    controlsBuilt = true;
  }

  function buildStrengths(a) {
    var box = $("strengths");
    Array.prototype.slice.call(box.querySelectorAll("label")).forEach(function (l) { l.remove(); });
    var chosen = a.drug.strengths;
    a.drug.availableStrengths.forEach(function (s) {
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "checkbox";
      input.name = "strength";
      input.value = String(s);
      input.checked = chosen.indexOf(s) >= 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + fmt(s) + " " + (a.drug.unit === "ug/h" ? "µg/h" : "mg")));
      box.appendChild(label);
    });
  }

  function syncControls(a) {
    $("product").value = productKey(a.drug);
    buildStrengths(a);
    $("dose-unit").textContent = unitText(a.drug.unit);
    var dose = $("start-dose");
    dose.max = String(proposal.maxStartDailyDose);
    if (document.activeElement !== dose) { dose.value = String(a.startDailyDose); }
    $("start-dose-hint").textContent = T.start_dose_hint.replace("{max}", fmt(proposal.maxStartDailyDose) + " " + unitText(a.drug.unit));
    $("start-date").value = a.startDate;
    $("follow-up").value = a.followUp;
    var preset = a.pace.preset || "custom";
    Array.prototype.forEach.call(document.querySelectorAll("input[name=pace]"), function (r) { r.checked = r.value === preset; });
    $("custom").hidden = preset !== "custom";
    if (preset === "custom") {
      if (document.activeElement !== $("custom-percent")) { $("custom-percent").value = String(a.pace.percentPerStep); }
      if (document.activeElement !== $("custom-days")) { $("custom-days").value = String(a.pace.daysPerStep); }
    }
    Array.prototype.forEach.call(document.querySelectorAll("input[name=split]"), function (r) { r.checked = r.value === a.split; });
    $("split-set").hidden = a.drug.administrationsPerDay < 2;
  }

  function renderWarnings(a) {
    var list = $("warnings");
    list.textContent = "";
    a.warnings.forEach(function (w) {
      var li = document.createElement("li");
      li.textContent = w.text;
      li.dataset.code = w.code;
      list.appendChild(li);
    });
    $("warnings-section").hidden = a.warnings.length === 0;
  }

  function renderTable(a) {
    var table = $("schedule-table");
    var head = table.tHead;
    head.textContent = "";
    var tr = document.createElement("tr");
    a.table.head.concat([T.hold]).forEach(function (h) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      tr.appendChild(th);
    });
    head.appendChild(tr);
    var tbody = table.tBodies[0];
    tbody.textContent = "";
    a.table.rows.forEach(function (row, i) {
      var r = document.createElement("tr");
      var step = a.steps[i];
      if (step) {
        r.dataset.step = String(step.number);
        if (step.extraDays) { r.className = "held"; }
      } else {
        r.className = "stopped";
      }
      row.forEach(function (cell, j) {
        var td = document.createElement(j === 0 ? "th" : "td");
        if (j === 0) { td.scope = "row"; }
        td.textContent = cell;
        if (j === 2 && step && step.extraDays) {
          var small = document.createElement("span");
          small.className = "held-mark";
          small.textContent = " (" + T.held.replace("{days}", step.extraDays) + ")";
          td.appendChild(small);
        }
        r.appendChild(td);
      });
      var last = document.createElement("td");
      if (step) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "hold";
        b.dataset.step = String(step.number);
        b.textContent = T.hold + " +" + a.holdIncrementDays + " d";
        b.setAttribute("aria-label", T.hold_label.replace("{n}", step.number).replace("{days}", a.holdIncrementDays));
        last.appendChild(b);
      }
      r.appendChild(last);
      tbody.appendChild(r);
    });
    $("undo-holds").hidden = a.holds.length === 0;
  }

  function render(a) {
    last = a;
    if (!controlsBuilt) { buildControls(a); }
    syncControls(a);
    renderWarnings(a);
    $("chart").innerHTML = a.views.chart;       // drawn by the service: numbers and escaped words only
    renderTable(a);
    $("print-area").innerHTML = a.views.print;  // the same print-out as the PDF
    var lastStep = a.steps[a.steps.length - 1];
    $("summary").textContent = T.summary.replace("{start}", fmt(a.startDailyDose) + " " + unitText(a.drug.unit))
      .replace("{steps}", a.steps.length).replace("{last}", lastStep.end).replace("{end}", a.end);
    var marks = T.thirty.replace("{date}", a.thirtyPercent.date).replace("{step}", a.thirtyPercent.step || "–");
    $("marks").textContent = marks + " " + T.six.replace("{date}", a.sixMonths.date);
    $("error").hidden = true;
    $("results").hidden = false;
    $("planner").hidden = false;
    $("status").textContent = "";
    $("save").hidden = !config.canSave;
  }

  /* --- what the physician changes ------------------------------------------------------------ */

  function clearHolds() {
    if (state.holds.length) {
      state.holds = [];
      $("holds-note").textContent = T.holds_cleared;
      $("holds-note").hidden = false;
    }
  }

  function readPace() {
    var checked = document.querySelector("input[name=pace]:checked");
    var value = checked ? checked.value : "weekly";
    if (value === "custom") {
      return { percentPerStep: Number($("custom-percent").value), daysPerStep: Number($("custom-days").value) };
    }
    return { preset: value };
  }

  function onControls(event) {
    var target = event.target;
    if (target.id === "product") {
      var parts = target.value.split("|");
      state.drug.form = parts[0];
      state.drug.combination = parts[1] ? parts[1].split("/") : [];
      state.drug.strengths = null;
      clearHolds();
    } else if (target.name === "strength") {
      var boxes = document.querySelectorAll("input[name=strength]");
      var chosen = Array.prototype.filter.call(boxes, function (b) { return b.checked; })
        .map(function (b) { return Number(b.value); });
      if (chosen.length === 0) { target.checked = true; return; }  // at least one strength
      state.drug.strengths = chosen.length === boxes.length ? null : chosen;
      clearHolds();
    } else if (target.id === "start-dose") {
      var dose = target.value === "" ? NaN : Number(target.value);
      state.startDailyDose = isFinite(dose) ? dose : target.value;  // the service says what is wrong
      clearHolds();
    } else if (target.id === "start-date") {
      if (!target.value) { return; }
      state.startDate = target.value;
    } else if (target.id === "follow-up") {
      state.followUp = target.value || null;
    } else if (target.name === "pace" || target.id === "custom-percent" || target.id === "custom-days") {
      state.pace = readPace();
      $("custom").hidden = !("percentPerStep" in state.pace);
      clearHolds();
    } else if (target.name === "split") {
      state.split = target.value;
    } else {
      return;
    }
    if (event.type === "input") { later(); } else { clearTimeout(timer); update(); }
  }

  function onTable(event) {
    var b = event.target.closest("button.hold");
    if (!b || !last) { return; }
    state.holds.push({ step: Number(b.dataset.step), extraDays: last.holdIncrementDays });
    $("holds-note").hidden = true;
    update();
  }

  function download(url, name, status) {
    $("action-status").textContent = "…";
    post(url, body(null)).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (d) { throw new Error(outcomeText(d) || ("HTTP " + response.status)); });
      }
      return response.blob();
    }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      $("action-status").textContent = status;
    }).catch(function (e) { $("action-status").textContent = T.failed + ": " + e.message; });
  }

  // A SMART session's Save: the service writes CarePlan, MedicationRequest and Flag through the EHR's
  // FHIR server with the token it holds (the page never sees the token); one click, one transaction.
  function save() {
    $("save").disabled = true;
    $("action-status").textContent = "…";
    post(config.api.save, body(null)).then(function (response) {
      return response.json().then(function (d) {
        if (!response.ok) { throw new Error(outcomeText(d) || ("HTTP " + response.status)); }
        return d;
      });
    }).then(function (d) {
      $("action-status").textContent = T.saved.replace("{what}", (d.saved || []).join(", "));
    }).catch(function (e) {
      $("action-status").textContent = T.save_failed + ": " + e.message;
      $("save").disabled = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = $("controls");
    form.addEventListener("change", onControls);
    form.addEventListener("input", function (e) { if (e.target.type === "number") { onControls(e); } });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    $("schedule-table").addEventListener("click", onTable);
    $("undo-holds").addEventListener("click", function () { state.holds = []; update(); });
    $("print").addEventListener("click", function () { window.print(); });
    $("download-pdf").addEventListener("click", function () {
      download(config.api.pdf, "nedtrappningsschema-" + state.startDate + ".pdf", T.pdf + " ✓");
    });
    $("download-bundle").addEventListener("click", function () {
      download(config.api.bundle, "nedtrappning-" + state.startDate + ".json", T.bundle + " ✓");
    });
    $("save").addEventListener("click", function () {
      if (window.TrappaPlanner.onSave) { window.TrappaPlanner.onSave(body(null), last); return; }
      if (config.api.save) { save(); }
    });
    update();
  });

  // The seam for another authority (a SMART session): it may set onSave, and read the request body and
  // the last trusted answer.
  window.TrappaPlanner = { onSave: null, body: function () { return body(null); },
                           answer: function () { return last; }, refresh: update };
})();
