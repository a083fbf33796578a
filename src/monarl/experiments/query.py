"""Load a run store into plain Python rows or a pandas DataFrame for your own analysis.

The store is plain files (see :mod:`monarl.experiments.store`), so any tool works; these helpers
save the globbing. DuckDB users can skip them entirely::

    SELECT config.approval.noise AS sigma, config.horizon AS M, avg(final.hack) AS hack
    FROM read_json_auto('STORE/runs/*/summary.json') GROUP BY ALL ORDER BY ALL;
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from monarl.algos import TRAINERS
from monarl.experiments.store import Store


def _store(store: str | Path | Store) -> Store:
    return store if isinstance(store, Store) else Store(store)


def load_runs(store: str | Path | Store, ids: list[str] | None = None,
              stale: list[str] | None = None) -> list[dict[str, Any]]:
    """Every finished run (its summary.json as a dict: id, algo, config, final, info, wall
    seconds, ...), sorted by id; ``ids`` restricts to those runs.

    Runs computed before their algorithm's current ``semantics`` version (a release that changed
    what the same config computes, see ``TrainerSpec.semantics``) are left
    out; their ids are appended to ``stale`` when a list is given."""
    st = _store(store)
    st.check()
    wanted = sorted(st.done_ids() if ids is None else set(ids) & st.done_ids())
    rows = []
    for rid in wanted:
        try:
            row = st.read_json(rid, "summary.json")
        except (OSError, ValueError):
            continue  # removed or unreadable meanwhile: skip, never crash an analysis
        algo = TRAINERS.get(row["algo"]) if row.get("algo") in TRAINERS.names() else None
        if row.get("semantics", 1) < (algo.semantics if algo is not None else 1):
            if stale is not None:
                stale.append(rid)
            continue
        rows.append(row)
    return rows


def load_metrics(store: str | Path | Store, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every metrics.jsonl line of finished runs, each with its run ``id`` added."""
    st = _store(store)
    out = []
    for row in load_runs(st, ids):
        for line in st.read_metrics(row["id"]):
            out.append({"id": row["id"], **line})
    return out


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'config': {'approval': {'noise': 0.5}}} -> {'config.approval.noise': 0.5}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def to_records(store: str | Path | Store, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """One flat dict per run: ``id``, ``algo``, ``config.*``, ``final.*``, ``wall_seconds``."""
    records = []
    for row in load_runs(store, ids):
        flat = flatten({"config": row.get("config", {}), "final": row.get("final", {})})
        records.append(
            {
                "id": row["id"],
                "algo": row.get("algo"),
                **flat,
                "wall_seconds": row.get("wall_seconds"),
            }
        )
    return records


def to_dataframe(store: str | Path | Store, ids: list[str] | None = None):
    """:func:`to_records` as a pandas DataFrame (``pip install pandas``)."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "to_dataframe needs pandas: pip install pandas (or use "
            "monarl.experiments.query.to_records / DuckDB)"
        ) from None
    return pd.DataFrame(to_records(store, ids))


def summary_glob(store: str | Path | Store) -> str:
    """The glob DuckDB's read_json_auto takes for a store's summaries."""
    return os.path.join(str(_store(store).runs_dir), "*", "summary.json")


def duckdb_query(store: str | Path | Store, sql: str):
    """Run SQL where the view ``runs`` is every summary.json (``pip install duckdb``)."""
    try:
        import duckdb
    except ImportError:
        raise ImportError("duckdb_query needs duckdb: pip install 'monarl[query]'") from None
    con = duckdb.connect()
    path = summary_glob(store).replace("'", "''")
    con.execute(f"CREATE VIEW runs AS SELECT * FROM read_json_auto('{path}')")
    return con.execute(sql)


__all__ = [
    "duckdb_query",
    "flatten",
    "load_metrics",
    "load_runs",
    "summary_glob",
    "to_dataframe",
    "to_records",
]


if __name__ == "__main__":  # pragma: no cover - python -m monarl.experiments.query STORE
    import sys

    print(json.dumps(to_records(sys.argv[1]), indent=1))
