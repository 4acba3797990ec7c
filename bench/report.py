"""The markdown report of a run: targets met and missed, then every round and measurement behind them."""

from __future__ import annotations

import statistics


def _f(value, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}" if isinstance(value, float | int) else str(value)
    return f"{text}{unit}"


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _median_range(values) -> tuple:
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def _mr(values, fmt=_ratio) -> str:
    median, low, high = _median_range(values)
    if median is None:
        return "–"
    return f"**{fmt(median)}** ({fmt(low)}–{fmt(high)})"


def _mark(ok) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def summarise(result: dict, targets: dict) -> dict:
    """Ratios within each round, and the numbers the targets are judged on."""
    rounds = result.get("rounds") or []
    s: dict = {"rounds": len(rounds)}
    s["book_vs_raw"] = [r["P"]["rps"] / r["A0"]["rps"] for r in rounds]
    s["book_vs_a1"] = [r["P"]["rps"] / r["A1"]["rps"] for r in rounds]
    s["book_vs_a2"] = [r["P"]["rps"] / r["A2"]["rps"] for r in rounds]
    s["a1_vs_raw"] = [r["A1"]["rps"] / r["A0"]["rps"] for r in rounds]
    s["a2_vs_raw"] = [r["A2"]["rps"] / r["A0"]["rps"] for r in rounds]
    s["book_p95"] = [r["P"]["p95_ms"] for r in rounds]
    s["vitals_vs_raw"] = [20 * r["P_vitals"]["rps"] / r["A0_vitals"]["rows_per_s"] for r in rounds]
    s["calendar_rps"] = [r["P_calendar"]["rps"] for r in rounds]
    s["calendar_vs_values"] = [r["P_calendar"]["rps"] / r["A1_calendar"]["rps"] for r in rounds]
    inproc = result.get("inproc", {})
    peer = result.get("peer")
    avail = inproc.get("availability", {})
    if peer and avail:
        s["peer_speedup"] = peer["median_ms"] / avail["request"]["median_ms"]
        s["peer_speedup_selector"] = peer["median_ms"] / avail["selector"]["median_ms"]
    x10 = result.get("inproc_10x", {}).get("availability")
    if x10 and avail:
        s["x10_cost"] = x10["request"]["median_ms"] / avail["request"]["median_ms"]
    return s


def targets_table(result: dict, targets: dict, s: dict) -> list[str]:
    inproc = result.get("inproc", {})
    book, avail = inproc.get("booking", {}), inproc.get("availability", {})
    cal = inproc.get("calendar", {})
    contention = result.get("contention") or {}
    sweeps = result.get("sweeps") or []
    med = lambda xs: _median_range(xs)[0]  # noqa: E731
    rows = []

    def row(scenario, target, measured, ok):
        rows.append(f"| {scenario} | {target} | {measured} | {_mark(ok)} |")

    ratio = med(s["book_vs_raw"])
    row(
        "Booking throughput, c=8, unique slots",
        f"≥ {targets['booking_ratio_raw']}× raw insert (A0)",
        _mr(s["book_vs_raw"]),
        None if ratio is None else ratio >= targets["booking_ratio_raw"],
    )
    p95 = med(s["book_p95"])
    row(
        "Booking p95 latency, c=8",
        f"≤ {targets['booking_p95_ms']:.0f} ms",
        _mr(s["book_p95"], lambda v: f"{v:.1f} ms"),
        None if p95 is None else p95 <= targets["booking_p95_ms"],
    )
    if book:
        row(
            "Database round trips per booking",
            f"≤ {targets['booking_round_trips']}",
            f"{book['round_trips']} ({book['queries']} SQL + {book['savepoints']} SAVEPOINT/RELEASE + "
            f"{book.get('begins', book.get('transactions'))} BEGIN + {book.get('ends', book.get('transactions'))} "
            "COMMIT on their own + "
            f"{book.get('health_checks', 0)} health check)",
            book["round_trips"] <= targets["booking_round_trips"],
        )
    if contention:
        integ = contention.get("integrity", {})
        overlaps = sum(v for k, v in integ.items() if k != "new_sessions")
        row(
            "Contention over few slots: overlaps, answers",
            "0 overlaps; only 201 or 409",
            f"{overlaps} overlaps; {contention['n201']} × 201, {contention['n409']} × 409, "
            f"{contention['n_other'] + contention.get('n2xx_other', 0)} other",
            overlaps == 0 and contention["n_other"] + contention.get("n2xx_other", 0) == 0,
        )
    if avail:
        q = avail["queries"]
        row(
            "Availability queries (1 d / 7 d / 28 d / 4x resources)",
            f"≤ {targets['availability_queries']}, constant",
            " / ".join(str(q[k]) for k in ("1d", "7d", "28d", "28d_4x_resources")),
            max(q.values()) <= targets["availability_queries"] and len(set(q.values())) == 1,
        )
    if "peer_speedup" in s:
        row(
            "Availability vs django-appointment, same data",
            f"≥ {targets['availability_vs_peer']:.0f}× faster",
            f"{s['peer_speedup']:.0f}× (whole request; selector alone {s['peer_speedup_selector']:.0f}×)",
            s["peer_speedup"] >= targets["availability_vs_peer"],
        )
    if "x10_cost" in s:
        row(
            "Availability on the 10x dataset",
            f"≤ {targets['availability_10x_cost']:.0f}× the 1x cost",
            f"{s['x10_cost']:.2f}×",
            s["x10_cost"] <= targets["availability_10x_cost"],
        )
    if cal:
        row(
            "Week calendar queries, ~50 vs 500 sessions",
            "equal",
            f"{cal['queries']['small']} ({cal['small_sessions']} sessions) vs {cal['queries']['week_page1']} "
            f"({cal['week_sessions']} sessions, page 1 of 200)",
            cal["queries"]["small"] == cal["queries"]["week_page1"],
        )
    rps = med(s["calendar_rps"])
    row(
        "Week calendar throughput, c=4 (page of 200)",
        f"≥ {targets['calendar_rps']:.0f} req/s",
        _mr(s["calendar_rps"], lambda v: f"{v:.0f}/s"),
        None if rps is None else rps >= targets["calendar_rps"],
    )
    vit = med(s["vitals_vs_raw"])
    row(
        "Vitals batch of 20, c=8",
        f"≥ {targets['vitals_ratio_raw']}× raw multi-row insert",
        _mr(s["vitals_vs_raw"]),
        None if vit is None else vit >= targets["vitals_ratio_raw"],
    )
    gate = inproc.get("vitals", {}).get("alert_gate")
    if gate:
        row(
            "Vitals: alerts evaluated for every reading",
            "dangerous reading in a batch raises its alert",
            f"{gate['alerts_created']} alert for 1 dangerous of {gate['readings_returned']} readings",
            gate["ok"],
        )
    if sweeps:
        seconds = [x["seconds"] for x in sweeps]
        worst = max(seconds)
        row(
            f"Reminder sweep: {sweeps[0]['due']:,} due reminders",
            f"≤ {targets['sweep_seconds']:.0f} s",
            " / ".join(f"{x['seconds']:.1f} s ({x['racers']} sweep{'s' if x['racers'] > 1 else ''})" for x in sweeps),
            worst <= targets["sweep_seconds"],
        )
        msgs = max(x["broker_messages"] for x in sweeps)
        row(
            "Reminder sweep: broker messages",
            f"≤ {targets['sweep_messages']}",
            " / ".join(str(x["broker_messages"]) for x in sweeps),
            msgs <= targets["sweep_messages"],
        )
        row(
            "Reminder sweep: exactly once, two sweeps racing",
            "every due id sent once, re-run sends 0",
            "; ".join(
                f"{x['racers']}×: {x['provider_unique']:,} sent, {x['duplicates']} dup, {x['missing']} missing, "
                f"re-run {x['rerun_sent']}"
                for x in sweeps
            ),
            all(x["exactly_once"] and x["rerun_sent"] == 0 for x in sweeps),
        )
    return ["| Scenario | Target | Measured | |", "|---|---|---|---|", *rows]


RESEARCH_A0 = 6_880  # raw 8-client insert, median of 8 runs on a quiet machine (research section 2.1)


def scaled_table(result: dict, targets: dict, s: dict) -> list[str]:
    """The absolute targets (latency, req/s, seconds) were set on a quiet 2-core machine; on a busy one
    they are judged again after scaling by this run's own physical limit (A0) over the research's."""
    rounds = result.get("rounds") or []
    if not rounds:
        return []
    a0 = _median_range([r["A0"]["rps"] for r in rounds])[0]
    factor = a0 / RESEARCH_A0
    rows = [
        "",
        f"This run's physical limit A0 is {a0:,.0f} inserts/s against {RESEARCH_A0:,}/s on the quiet machine the "
        f"targets were set on (research section 2.1): a speed factor of {factor:.2f}. The absolute targets scaled "
        "by it:",
        "",
        "| Absolute target | Scaled to this run | Measured | |",
        "|---|---|---|---|",
    ]
    p95 = _median_range(s["book_p95"])[0]
    limit = targets["booking_p95_ms"] / factor
    rows.append(
        f"| booking p95 ≤ {targets['booking_p95_ms']:.0f} ms | ≤ {limit:.0f} ms | {p95:.0f} ms "
        f"| {_mark(p95 <= limit)} |"
    )
    rps = _median_range(s["calendar_rps"])[0]
    floor = targets["calendar_rps"] * factor
    rows.append(
        f"| calendar ≥ {targets['calendar_rps']:.0f} req/s | ≥ {floor:.0f} req/s | {rps:.0f} req/s "
        f"| {_mark(rps >= floor)} |"
    )
    sweeps = result.get("sweeps") or []
    if sweeps:
        worst = max(x["seconds"] for x in sweeps) * x_factor(sweeps)
        limit = targets["sweep_seconds"] / factor
        rows.append(
            f"| sweep of 10,000 ≤ {targets['sweep_seconds']:.0f} s | ≤ {limit:.1f} s | {worst:.1f} s "
            f"| {_mark(worst <= limit)} |"
        )
    return rows


def x_factor(sweeps: list[dict]) -> float:
    """Seconds are scaled to 10,000 reminders when the run had fewer (smoke)."""
    return 10_000 / sweeps[0]["due"] if sweeps and sweeps[0]["due"] else 1.0


def rounds_tables(result: dict, s: dict) -> list[str]:
    rounds = result.get("rounds") or []
    if not rounds:
        return ["(no HTTP rounds: wrk missing)"]
    out = [
        "### Booking: `POST /api/v1/sessions/` vs the same INSERT (wrk -t1 -c8, unique slots)",
        "",
        "| Round | A0 raw psycopg, 8 procs | A1 Django ORM view | A2 DRF view | P project | P / A0 | P / A2 "
        "| P p50 / p95 / p99 | CPU per booking (app + db) | wrk CPU per booking | machine busy (P) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        a0, a1, a2, p = r["A0"], r["A1"], r["A2"], r["P"]
        out.append(
            f"| {i} (load {r.get('loadavg', 0):.1f}) | {a0['rps']:,.0f}/s (p95 {a0['p95_ms']:.1f} ms) "
            f"| {a1['rps']:,.0f}/s ({a1['rps'] / a0['rps']:.3f}) "
            f"| {a2['rps']:,.0f}/s ({a2['rps'] / a0['rps']:.3f}) | {p['rps']:,.0f}/s "
            f"| {p['rps'] / a0['rps']:.3f} | {p['rps'] / a2['rps']:.3f} "
            f"| {p['p50_ms']:.1f} / {p['p95_ms']:.1f} / {p['p99_ms']:.1f} ms "
            f"| {p['cpu_app_ms']:.1f} + {p['cpu_db_ms']:.1f} ms (A2 {a2['cpu_app_ms']:.1f} + {a2['cpu_db_ms']:.1f}; "
            f"A0 {a0['cpu_app_ms']:.2f} + {a0['cpu_db_ms']:.2f}) | {p.get('wrk_cpu_ms', 0):.2f} ms | "
            f"{100 * p.get('machine_busy', 0):.0f}% |"
        )
    out.append(
        f"| **median (range)** | | A1/A0 {_mr(s['a1_vs_raw'])} | A2/A0 {_mr(s['a2_vs_raw'])} | "
        f"| {_mr(s['book_vs_raw'])} | {_mr(s['book_vs_a2'])} | | | | |"
    )
    out += [
        "",
        "### Vitals: `POST /api/v1/monitoring/{id}/vitals/` with 20 readings vs a raw 20-row INSERT (c=8)",
        "",
        "| Round | A0 raw 20-row insert, 8 procs | P project | P / A0 (samples) | P p50 / p95 "
        "| CPU per batch (app + db) |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        a0, p = r["A0_vitals"], r["P_vitals"]
        out.append(
            f"| {i} | {a0['rows_per_s']:,.0f} rows/s | {20 * p['rps']:,.0f} samples/s ({p['rps']:,.0f} req/s) "
            f"| {20 * p['rps'] / a0['rows_per_s']:.3f} | {p['p50_ms']:.1f} / {p['p95_ms']:.1f} ms "
            f"| {p['cpu_app_ms']:.1f} + {p['cpu_db_ms']:.1f} ms |"
        )
    out.append(f"| **median (range)** | | | {_mr(s['vitals_vs_raw'])} | | |")
    out += [
        "",
        "### Reads at c=4: week calendar (page of 200 of a 500-session week) and 4-week availability",
        "",
        "| Round | A1 `values()` calendar | P calendar | P / A1 | P calendar p95 | P availability (28 d) "
        "| P availability p95 | CPU per request: calendar, availability |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        a1, p, av = r["A1_calendar"], r["P_calendar"], r["P_availability"]
        out.append(
            f"| {i} | {a1['rps']:,.0f}/s | {p['rps']:,.0f}/s | {p['rps'] / a1['rps']:.3f} | {p['p95_ms']:.1f} ms "
            f"| {av['rps']:,.1f}/s | {av['p95_ms']:.0f} ms | {p['cpu_app_ms']:.1f} + {p['cpu_db_ms']:.1f}, "
            f"{av['cpu_app_ms']:.1f} + {av['cpu_db_ms']:.1f} ms |"
        )
    out.append(f"| **median (range)** | | | {_mr(s['calendar_vs_values'])} | | | | |")
    return out


def inproc_tables(result: dict, s: dict) -> list[str]:
    inproc = result.get("inproc", {})
    avail, cal = inproc.get("availability", {}), inproc.get("calendar", {})
    x10 = result.get("inproc_10x", {})
    peer = result.get("peer")
    out = [
        "| Availability, 4 weeks, 12 chairs + 8 clinicians | 1x dataset | 10x dataset | Queries |",
        "|---|---|---|---|",
    ]

    def t(block):
        return f"{block['median_ms']:.1f} ms (cpu {block['cpu_ms']:.1f})" if block else "–"

    xa = x10.get("availability", {})
    if avail:
        out.append(
            f"| P: whole request (test client, JSON out) | {t(avail['request'])} | {t(xa.get('request'))} "
            f"| {avail['queries']['28d']} |"
        )
        out.append(f"| P: `availability_search` selector only | {t(avail['selector'])} | {t(xa.get('selector'))} | |")
        out.append(f"| R: reference, 1 query + bitset sweep | {t(avail['reference'])} | {t(xa.get('reference'))} | 1 |")
    if peer:
        out.append(
            f"| django-appointment {peer['package'].split()[-1]}: 8 staff × 28 days "
            f"(`get_available_slots_for_staff`, clinicians only) | {peer['median_ms']:,.0f} ms "
            f"(cpu {peer['cpu_ms']:,.0f}) | – | {peer['queries']:,} |"
        )
    lines = ["", *out, ""]
    if avail:
        lines.append(
            f"Project slots: {avail['slots']:,} starts (R: {avail['reference_slots']:,}; identical: "
            f"{'yes' if avail['matches_reference'] else '**no**'}). Queries by window and resources: "
            + ", ".join(f"{k} {v}" for k, v in avail["queries"].items())
            + "."
        )
    comparison = result.get("peer_comparison")
    if comparison:
        lines.append(
            f"Peer comparison on the comparable subset (clinician-only free starts, chairs ignored): ours "
            f"{comparison['ours']:,} (clinician, start) pairs, django-appointment {comparison['peer']:,}; "
            f"identical: {'yes' if comparison['equal'] else '**no**'}."
        )
    if peer:
        lines.append(
            f"django-appointment, one staff-day (what its AJAX endpoint serves): {peer['one_staff_day']['ms']:.1f} ms, "
            f"{peer['one_staff_day']['queries']} queries."
        )
    if cal:
        lines += [
            "",
            f"Week calendar in-process: page 1 ({cal['page1_rows']} rows, {cal['page1_bytes']:,} bytes) "
            f"{t(cal['page1'])}; queries per page: "
            + ", ".join(f"{k} {v}" for k, v in cal["queries"].items())
            + (f"; 10x dataset page 1: {t(x10['calendar']['page1'])}" if x10.get("calendar") else "")
            + ".",
        ]
    book, vit = inproc.get("booking"), inproc.get("vitals")
    if book:
        lines += [
            "",
            f"Booking in-process: {book['round_trips']} round trips = {book['queries']} SQL statement strings + "
            f"{book['savepoints']} SAVEPOINT/RELEASE + {book.get('begins', book.get('transactions'))} BEGIN and "
            f"{book.get('ends', book.get('transactions'))} COMMIT sent on their "
            f"own (a folded transaction sends them inside its first and last strings) + "
            f"{book.get('health_checks', 0)} connection health check (`SELECT 1`, run only for a connection idle "
            "for a second or more); "
            f"{book['cpu_ms']:.1f} ms CPU per booking; with room and clinician chosen by the service: "
            f"{book['auto_pick']['round_trips']} round trips.",
        ]
    if vit:
        lines.append(
            f"Vitals in-process: batch of 20 {vit['queries']['batch20']} queries ({vit['round_trips_batch20']} "
            f"round trips), single reading {vit['queries']['single']}, batch with one dangerous reading "
            f"{vit['queries']['batch20_with_alert']}."
        )
    return lines


def render(result: dict, targets: dict, ceilings: dict) -> str:
    s = summarise(result, targets)
    m = result.get("machine", {})
    d = result.get("dataset", {})
    cfg = result.get("config", {})
    lines = [
        f"# Benchmark results ({result['mode']} run, {result['started'][:16].replace('T', ' ')} UTC)",
        "",
        f"Machine: {m.get('nproc')} cores, {m.get('memory', '').replace('MemTotal:', '').strip()}; "
        f"Python {m.get('python')}; {m.get('versions')}; PostgreSQL {m.get('postgresql')}; Redis {m.get('redis')}; "
        f"{m.get('wrk')}. Load average at the end: {m.get('loadavg_at_end')}. Code: {m.get('commit', '?')}.",
        "",
        f"Dataset `{d.get('fingerprint')}`: {d.get('patients', 0):,} patients, {d.get('sessions_booked', 0):,} "
        f"sessions booked over 4 weeks from {d.get('anchor')}, {d.get('sessions_history', 0):,} completed last week, "
        f"{d.get('sessions_in_progress', 0)} in progress, {d.get('vitals', 0):,} vitals, {d.get('outbox', 0):,} "
        f"outbox rows ({d.get('outbox_due', 0):,} made due by the sweep scenario)."
        + (
            f" 10x: {result['dataset_10x']['sessions_booked']:,} sessions over 280 days, "
            f"{result['dataset_10x']['patients']:,} patients, {result['dataset_10x']['outbox']:,} outbox rows."
            if result.get("dataset_10x")
            else ""
        ),
        "",
        f"{s['rounds']} interleaved round(s) of {cfg.get('write_s')} s write / {cfg.get('read_s')} s read slices; "
        f"ratios within a round, median (min–max). Run time {result.get('elapsed_s', 0):.0f} s.",
        "",
        "## Targets",
        "",
        *targets_table(result, targets, s),
        *scaled_table(result, targets, s),
        "",
        "## Rounds",
        "",
        *rounds_tables(result, s),
        "",
        "## In-process (query counts, availability, peer)",
        *inproc_tables(result, s),
    ]
    contention = result.get("contention")
    if contention:
        lines += [
            "",
            "## Contention",
            "",
            f"{contention['requests']:,} booking requests at c=8 over {contention['slots']} (chair, hour) slots with "
            f"the clinician left to the service: {contention['n201']} × 201 (at most {contention['max_possible_201']} "
            f"possible: 8 clinicians × 2 hours), {contention['n409']:,} × 409, "
            f"{contention['n_other'] + contention.get('n2xx_other', 0)} other; {contention['rps']:,.0f} req/s, "
            f"p95 {contention['p95_ms']:.1f} ms. Integrity afterwards: {contention['integrity']}.",
        ]
    sweeps = result.get("sweeps")
    if sweeps:
        lines += [
            "",
            "## Reminder sweep",
            "",
            "| Sweeps racing | Due | Seconds to all sent | Reminders/s | Broker messages | Claims per sweep "
            "| Sent at the provider | Duplicates | Re-run sent |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for x in sweeps:
            tasks = ", ".join(f"{name.rsplit('.', 1)[1]} {count}" for name, count in sorted(x["tasks"].items()))
            lines.append(
                f"| {x['racers']} | {x['due']:,} | {x['seconds']:.2f} | {x['per_second']:,.0f} "
                f"| {x['broker_messages']} "
                f"({tasks}) "
                f"| {', '.join(str(c) for c in x['dispatch_claims'])} | {x['provider_unique']:,} | {x['duplicates']} "
                f"| {x['rerun_sent']} |"
            )
    lines += [
        "",
        "## What the columns mean",
        "",
        "- **A0** the physical limit: 8 processes of raw psycopg (prepared, autocommit) inserting into a copy of the "
        "session table with the same exclusion constraints, indexes and foreign keys (vitals: 20-row multi-row "
        "INSERT ... RETURNING id). **A1** a minimal Django view doing the same insert with `objects.create`; **A2** "
        "the same through a DRF serializer and `Response`, no auth (both in `bench/baselines.py`, served by a second "
        "gunicorn with `bench.settings`). **P** the project under gunicorn with `config.settings.production`.",
        "- **P / A0** throughput of the project over the physical limit in the same round; the other ratios alike.",
        "- **CPU per request** utime+stime from /proc of the gunicorn workers (app) and of this database's "
        "PostgreSQL backends plus its background processes (db), divided by requests.",
        "- **Round trips** every statement string Django sends, SAVEPOINT/RELEASE included, plus each BEGIN, COMMIT "
        "and ROLLBACK psycopg sends on its own (in Django's `atomic` psycopg 3 sends BEGIN as its own round trip "
        "before a transaction's first statement, and COMMIT as another; the booking's transaction is folded, "
        "`clinic.db.folded`: BEGIN travels at the head of its first string and COMMIT at the end of its last), plus "
        "the connection health check (`SELECT 1` before a request's first query on a reused connection, which the "
        "project's backend runs only when the connection has been idle for a second or more; Django does not log it, "
        "the bench counts it by wrapping `is_usable`). A booking's locks and reads are one string of several "
        "statements, sent and answered in one round trip.",
        "- **wrk CPU** the load generator's own CPU per request (it shares the 2 cores); **machine busy** the "
        "share of both cores not idle while the project's slice ran (/proc/stat): below ~90% the two sync workers "
        "are waiting (on the database, on locks, on each other), not short of CPU.",
        "- **load** the 1-minute load average when the round started (2 cores; other work on the machine shows here).",
        "- **R** the reference availability search (one range query, bitsets of quarter hours): the project's slots "
        "must equal R's, rooms and clinicians included.",
        "",
        f"Smoke ceilings (CI): {', '.join(f'{k} ≤ {v}' for k, v in ceilings.items())}.",
    ]
    if result.get("notes"):
        lines += ["", "Notes: " + "; ".join(result["notes"])]
    if result.get("failures"):
        lines += ["", "**Gates failed:**", *[f"- {f}" for f in result["failures"]]]
    return "\n".join(lines) + "\n"


def render_profiles(profiles: dict) -> str:
    lines = ["# Where the time goes (py-spy, non-idle samples of the server processes)", ""]
    for name, prof in profiles.items():
        lines += [f"## {name} ({prof['samples']:,} samples)", "", "Innermost project function:", ""]
        lines += [f"- {share}% {frame}" for frame, share in prof["innermost_project"][:15]]
        lines += ["", "Inclusive (any frame on the stack):", ""]
        lines += [f"- {share}% {frame}" for frame, share in prof["inclusive"][:30]]
        lines += ["", "Self (leaf frame):", ""]
        lines += [f"- {share}% {frame}" for frame, share in prof["self"][:15]]
        lines.append("")
    return "\n".join(lines)
