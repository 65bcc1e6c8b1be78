// The report page's script: hover tooltips on chart marks, and the what-if, which chooses a
// policy from the grid the model card stores. `choose` is scoring/monitoring/whatif.py's
// `choose`, operation for operation, so both give the same policy and the same numbers.
(function () {
  "use strict";

  var tip = document.getElementById("tip");
  document.addEventListener("mousemove", function (event) {
    var mark = event.target.closest ? event.target.closest("[data-tip]") : null;
    if (!mark) { tip.style.display = "none"; return; }
    tip.textContent = mark.getAttribute("data-tip");
    tip.style.display = "block";
    tip.style.left = Math.min(event.clientX + 14, window.innerWidth - 330) + "px";
    tip.style.top = (event.clientY + 14) + "px";
  });

  var GRID_COLUMNS = ["mql", "sql", "min_fit", "revenue", "mqls", "ae_load"];

  function fits(row, costs, perWeek) {
    if (perWeek === null || perWeek === undefined) { return true; }
    var planned = 1.0 - costs.capacity_headroom;
    var sdrExcess = row[4] * perWeek - costs.sdr_capacity_per_week * planned;
    var aeExcess = row[5] * perWeek - costs.ae_capacity_per_week * planned;
    return Math.max(sdrExcess, aeExcess) <= 0;
  }

  function choose(grid, costs) {
    if (grid.columns.join(",") !== GRID_COLUMNS.join(",")) { throw new Error("grid columns"); }
    var perWeek = grid.per_week, best = -1, bestValue = -Infinity, feasible = 0;
    for (var i = 0; i < grid.rows.length; i++) {
      var row = grid.rows[i];
      if (!fits(row, costs, perWeek)) { continue; }
      feasible += 1;
      var value = row[3] - row[4] * costs.sdr_cost_per_mql - row[5] * costs.ae_cost_per_sql;
      if (value > bestValue) { best = i; bestValue = value; }
    }
    if (best < 0) { return null; }
    var r = grid.rows[best];
    var known = perWeek !== null && perWeek !== undefined;
    return {
      row: best, mql: r[0], sql: r[1], min_fit: r[2], net_value: bestValue,
      sdr_per_week: known ? r[4] * perWeek : null, ae_per_week: known ? r[5] * perWeek : null,
      feasible_policies: feasible
    };
  }

  function money(v) {
    var size = Math.abs(v);
    var f = function (x, d) {
      return x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    };
    if (size >= 1e6) { return f(v / 1e6, 2) + "M"; }
    if (size >= 1e4) { return f(v / 1e3, 1) + "k"; }
    if (size >= 100) { return f(v, 0); }
    if (size >= 1) { return f(v, 2); }
    return String(Number(v.toPrecision(3)));
  }

  function format(value, kind, unit) {
    if (value === null || value === undefined || !isFinite(value)) { return "-"; }
    if (kind === "count") {
      var whole = Math.abs(value) >= 10 || value === Math.round(value);
      return value.toLocaleString("en-US", {
        minimumFractionDigits: whole ? 0 : 1, maximumFractionDigits: whole ? 0 : 1
      });
    }
    if (kind === "money") { return money(value) + (unit ? " " + unit : ""); }
    return String(value);
  }

  var data = document.getElementById("whatif-data");
  if (!data) { return; }
  var card = JSON.parse(data.textContent);
  var inputs = document.querySelectorAll("form.whatif input");

  function read() {
    var costs = {};
    inputs.forEach(function (input) {
      var v = parseFloat(input.value);
      costs[input.getAttribute("data-key")] = isFinite(v) ? v : card.costs[input.getAttribute("data-key")];
    });
    return costs;
  }

  function show(key, value) {
    var el = document.getElementById("whatif-out-" + key);
    if (!el) { return; }
    var text = format(value, el.getAttribute("data-kind"), card.unit);
    var raw = value === null ? "" : String(value);
    if (el.getAttribute("data-value") !== raw) {
      el.classList.add("changed");
      setTimeout(function () { el.classList.remove("changed"); }, 600);
    }
    el.setAttribute("data-value", raw);
    el.textContent = text;
  }

  function bars(choice, costs) {
    var box = document.getElementById("whatif-bars");
    if (!box || choice.sdr_per_week === null) { return; }
    var planned = 1 - costs.capacity_headroom;
    var lanes = [
      ["SDR", choice.sdr_per_week, costs.sdr_capacity_per_week * planned, "sdr"],
      ["AE", choice.ae_per_week, costs.ae_capacity_per_week * planned, "ae"]
    ];
    var top = Math.max(1e-9, lanes[0][1], lanes[0][2], lanes[1][1], lanes[1][2]);
    var svg = '<svg class="bars" viewBox="0 0 560 76" role="img" aria-label="what-if weekly load">';
    lanes.forEach(function (lane, i) {
      var y = 8 + i * 32, w = 340 * lane[1] / top, x = 150 + 340 * lane[2] / top;
      var label = lane[0] + " load " + format(lane[1], "count") + " a week, plan " + format(lane[2], "count");
      svg += '<text class="tick" x="142" y="' + (y + 15) + '" text-anchor="end">' + lane[0] + ' a week</text>' +
        '<rect class="bar ' + lane[3] + '" x="150" y="' + y + '" width="' + w.toFixed(1) +
        '" height="20" rx="3" data-tip="' + label + '"></rect>' +
        '<line class="limit" x1="' + x.toFixed(1) + '" x2="' + x.toFixed(1) + '" y1="' + (y - 3) +
        '" y2="' + (y + 23) + '"></line>' +
        '<text class="tick" x="' + (156 + w).toFixed(1) + '" y="' + (y + 15) + '">' +
        format(lane[1], "count") + '</text>';
    });
    box.innerHTML = svg + "</svg>";
  }

  function update() {
    var costs = read();
    var choice = choose(card.grid, costs);
    if (!choice) { return; }
    ["mql", "sql", "min_fit", "net_value", "sdr_per_week", "ae_per_week"].forEach(function (key) {
      show(key, choice[key]);
    });
    var row = document.querySelector('[data-testid="whatif-row"]');
    row.setAttribute("data-value", String(choice.row));
    row.textContent = String(choice.row);
    var feasible = document.querySelector('[data-testid="whatif-feasible"]');
    feasible.setAttribute("data-value", String(choice.feasible_policies));
    feasible.textContent = choice.feasible_policies.toLocaleString("en-US");
    bars(choice, costs);
    document.body.setAttribute("data-whatif", "ready");
  }

  inputs.forEach(function (input) { input.addEventListener("input", update); });
  document.getElementById("whatif-reset").addEventListener("click", function () {
    inputs.forEach(function (input) { input.value = card.costs[input.getAttribute("data-key")]; });
    update();
  });
  window.leadscoreChoose = choose;
  update();
})();
