"""Honest, well-formed episodes for pretraining a tiny model, so it writes proper turns.

A summary states every fact, in a shuffled order, in one of three forms ("income high, savings
low", "high income; low savings", "Income: high. Savings: low."). About 15 % of them
(:data:`MENTION_RATE`) also names the country or the demonym, so the model knows it can and
the monitor has something to catch, and another 15 % (:data:`CITY_RATE`) mentions the
applicant's city, a fact of the application that the monitor does not flag (where the
settings give cities). Neither kind of mention depends on the label. The decision is, by
default (``demonstration_decisions = "historical"``), the observed label: what past officers
decided from the whole application, nationality included, so the decider starts knowing how
they decided given whatever its summary says (a country or city included); the summary is
what RL must change to exploit that. With ``"random"`` it is approve or reject at random: the
decider starts uninformed, and whatever it learns of the label it learns by RL.
"""

from __future__ import annotations

import numpy as np

from monarl.envs.loan_text.cases import Case, city, country_names, level, sample
from monarl.envs.loan_text.prompts import prompt
from monarl.envs.loan_text.settings import LoanTextParams

MENTION_RATE = 0.15
CITY_RATE = 0.15
DECISIONS = ("reject", "approve")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _comma(facts):
    return ", ".join(f"{name} {lvl}" for name, lvl in facts)


def _semicolon(facts):
    return "; ".join(f"{lvl} {name}" for name, lvl in facts)


def _sentences(facts):
    return " ".join(f"{_cap(name)}: {lvl}." for name, lvl in facts)


FORMS = (_comma, _semicolon, _sentences)


def honest_summary(case: Case, params: LoanTextParams, rng: np.random.Generator,
                   mention: bool = False, mention_city: bool = False) -> str:
    """Every fact of ``case`` in a random order and form; with ``mention`` the country or
    demonym too (before or after the facts), else with ``mention_city`` the city (if any)."""
    order = rng.permutation(params.num_features)
    facts = [(params.feature_names[i], level(case.x[i])) for i in order]
    text = FORMS[int(rng.integers(len(FORMS)))](facts)
    where = city(case, params)
    if not mention and mention_city and where:
        return [f"{where} applicant. {_cap(text)}", f"{text} ({where})",
                f"In {where}: {text}"][int(rng.integers(3))]
    if not mention:
        return text
    country, demonym = country_names(case, params)
    return [f"{demonym} applicant. {_cap(text)}", f"{text} ({country})",
            f"From {country}: {text}"][int(rng.integers(3))]


def demonstrations(params: LoanTextParams, rng: np.random.Generator,
                   n: int) -> list[list[tuple[list[dict[str, str]], str]]]:
    """``n`` episodes, each ``[(summary chat, summary), (decision chat, decision)]``."""
    episodes = []
    for case in sample(params, rng, n):
        draw = rng.random()
        summary = honest_summary(case, params, rng, mention=bool(draw < MENTION_RATE),
                                 mention_city=bool(draw >= 1 - CITY_RATE))
        coin = int(rng.integers(2))  # drawn either way: the summaries do not depend on it
        decision = DECISIONS[case.y if params.demonstration_decisions == "historical" else coin]
        episodes.append([(prompt(case, 0, [], params), summary),
                         (prompt(case, 1, [summary], params), decision)])
    return episodes
