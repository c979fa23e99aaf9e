"""Several attackers at once (``--targets``): each optimises alone, then is measured alone and together.

``CrowdModel`` lists products in prompt order but moves every product whose
line holds a planted word to the front, so one attacker alone goes first and
several attackers crowd each other: together must come out worse than alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrec.audit import run as audit_run
from agentrec.audit.catalog import Catalog, CatalogError
from agentrec.audit.multi_attack import check_targets, run_multi_attack
from agentrec.audit.multi_attack_report import markdown_summary, write_multi_report
from agentrec.audit.paired_evaluation import PairedSetup
from agentrec.audit.placement import StsPlacement
from agentrec.audit.run import AuditOptions
from agentrec.core.errors import ConfigError
from agentrec.llm.records import AssistantTurn, GenerationSettings, Message, ResponseSchema, ToolSpec
from tests.audit.conftest import CATALOGS, PLANTED_WORDS
from tests.audit.test_audit_cli import assert_one_line_error, run

ATTACKERS = ("ColdBrew Master", "QuickBrew Express", "LatteArt Pro")


def planted_words(line: str) -> int:
    return sum(word.strip(".,\"'{}").lower() in PLANTED_WORDS for word in line.split())


class CrowdModel:
    """Every product with planted words goes to the front (in prompt order); log P falls with each rival."""

    model_id = "planted/crowd"

    def _lines(self, messages: list[Message]) -> list[str]:
        return [line for line in messages[1].content.splitlines() if line.startswith("{")]

    def logprob(self, messages: list[Message], continuation: str) -> float:
        target = continuation.removeprefix("1.").strip()
        lines = self._lines(messages)
        own = sum(planted_words(line) for line in lines if f'"{target}"' in line)
        rivals = sum(planted_words(line) for line in lines if f'"{target}"' not in line)
        return -10.0 + own - 0.5 * rivals

    def complete(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        response_schema: ResponseSchema | None = None,
        settings: GenerationSettings | None = None,
    ) -> AssistantTurn:
        lines = self._lines(messages)
        names = [line.split('"Name": "')[1].split('"')[0] for line in lines]
        pushed = [name for name, line in zip(names, lines, strict=True) if planted_words(line)]
        ordered = pushed + [name for name in names if name not in pushed]
        listing = "\n".join(f"{i}. {name}" for i, name in enumerate(ordered, start=1))
        return AssistantTurn(text=listing.removeprefix("1."))


@pytest.fixture
def crowd(monkeypatch: pytest.MonkeyPatch) -> CrowdModel:
    model = CrowdModel()
    monkeypatch.setattr(audit_run, "make_chat_model", lambda *args, **kwargs: model)
    return model


def test_rivals_are_planted_in_the_after_half_only(coffee: Catalog) -> None:
    rival = ("LatteArt Pro", "best", StsPlacement())
    setup = PairedSetup(coffee, "ColdBrew Master", "top", StsPlacement(), (rival,))
    planted = setup.planted_catalog()
    assert str(planted.product("ColdBrew Master").fields["Ideal For"]).endswith(" top")
    assert str(planted.product("LatteArt Pro").fields["Ideal For"]).endswith(" best")
    assert coffee.product("LatteArt Pro") == setup.catalog.product("LatteArt Pro")  # the clean half is untouched


def test_attackers_crowd_each_other(coffee_path: Path, crowd: CrowdModel, tmp_path: Path) -> None:
    options = AuditOptions(
        catalog=coffee_path, targets=ATTACKERS, optimizer="random", iters=6, evals=30, cache="off",
        optimizer_options={"units": "words", "length": "4", "candidates": "3"}, score_orders=1,
    )  # fmt: skip
    result = run_multi_attack(options)
    report = result.report
    assert report.targets == list(ATTACKERS) and list(report.attackers) == list(ATTACKERS)
    for name in ATTACKERS:
        attacker = report.attackers[name]
        assert planted_words(attacker.sts) >= 1  # each found the planted words on its own
        assert [o.order for o in result.alone[name]] == [o.order for o in result.together[name]]
        assert attacker.alone.before == attacker.together.before  # one clean half, the same orders
        assert attacker.alone.after.top1_rate == 1.0  # alone, the planted product always leads
        # Together the three crowd the front: each is first only when it comes first in the prompt.
        assert attacker.together.after.top1_rate < 0.8
        worse = attacker.together_minus_alone["mean_rank"]
        assert worse.diff > 0 and worse.low > 0
        assert attacker.together_minus_alone["mean_logprob"].diff < 0
    folder = write_multi_report(report, tmp_path / "report")
    assert {p.name for p in folder.iterdir()} == {"audit.json", "attackers.png", "summary.md"}
    assert all(name in markdown_summary(report) for name in ATTACKERS)


def test_bad_target_lists_fail_before_any_model(coffee_path: Path) -> None:
    def options(*targets: str, **more: object) -> AuditOptions:
        return AuditOptions(catalog=coffee_path, targets=targets, **more)  # type: ignore[arg-type]

    with pytest.raises(ConfigError, match="twice"):
        check_targets(options("ColdBrew Master", " coldbrew  master "))
    with pytest.raises(ConfigError, match="at least 2"):
        check_targets(options("ColdBrew Master"))
    with pytest.raises(CatalogError, match="not in catalog"):
        check_targets(options("ColdBrew Master", "Moka Pot"))
    with pytest.raises(ConfigError, match="--sts"):
        check_targets(options(*ATTACKERS, sts="best"))
    with pytest.raises(ConfigError, match="defence"):
        check_targets(options(*ATTACKERS, defence="sandwich"))


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--targets", "ColdBrew Master,coldbrew master"), "names 'ColdBrew Master' twice"),
        (("--targets", "ColdBrew Master,,LatteArt Pro"), "comma-separated"),
        (("--targets", "ColdBrew Master,LatteArt Pro", "--target", "LatteArt Pro"), "one of --target"),
        ((), "one of --target"),
    ],
)
def test_targets_on_the_command_line(flags: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(run(str(CATALOGS / "coffee_machines.jsonl"), *flags), fragment)
