"""Request differential: the same request through the real mod_wsgi and through us.

For each trust configuration (``cases.CONFIGS``) one mod_wsgi-express serves
every generated case (``cases.CASES``) from the trusted source 127.0.0.1 and
the untrusted 127.0.0.2. The same request goes through
``TrustedProxyMiddleware`` on the environ mod_wsgi builds. Each compared field
must equal mod_wsgi's, unless a deviation of ``deviations.DEVIATIONS``
recognises the request: then it must equal SPEC.md's result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from differential.cases import CASES, CONFIGS, SOURCES, TrustConfig
from differential.deviations import DEVIATIONS, Context, explain
from differential.environ import (
    FIELDS,
    build_environ,
    observe_environ,
    observe_modwsgi,
    run_middleware,
)
from differential.observe import Observations

pytestmark = [pytest.mark.realserver, pytest.mark.differential]

MAX_REPORTED = 40


def context(config: TrustConfig, source: str, case_index: int, port: int) -> Context:
    case = CASES[case_index]
    environ = build_environ(case.wire_headers(port), source=source, path=case.path,
                            listen_port=port)
    return Context(config, source, case, environ)


def contexts(obs: Observations) -> Iterator[tuple[Context, dict[str, str]]]:
    for source in SOURCES:
        for index, case in enumerate(CASES):
            env = obs.environ.get((case.id, source))
            if env is not None:
                yield context(obs.config, source, index, obs.port), env


def describe(ctx: Context, field: str, **values: object) -> str:
    shown = " ".join(f"{name}={value!r}" for name, value in values.items())
    return f"[{ctx.config.name} from {ctx.source}] {ctx.case.id}: {field}: {shown}"


def report(problems: list[str], what: str) -> str:
    head = f"{len(problems)} {what}:\n"
    body = "\n".join(problems[:MAX_REPORTED])
    more = f"\n... and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
    return head + body + more


def policy_for(config: TrustConfig) -> Any:
    """Our policy from the same mod_wsgi-express arguments.

    Until ``TrustPolicy.from_express_args`` exists the same values go to the
    constructor (``test_express_args_make_the_same_policy`` fails meanwhile).
    """
    from trustedproxy import TrustPolicy

    from_args = getattr(TrustPolicy, "from_express_args", None)
    if from_args is None:
        return TrustPolicy(trusted_proxies=list(config.proxies),
                           trusted_headers=list(config.headers))
    return from_args(config.express_args())


# --------------------------------------------------------------------------- no server needed


def test_enough_cases() -> None:
    assert len(CASES) >= 300
    assert len(CASES) * len(SOURCES) * len(CONFIGS) >= 4000


def test_every_deviation_is_exercised() -> None:
    hits: Counter[str] = Counter()
    for config in CONFIGS:
        for source in SOURCES:
            for index in range(len(CASES)):
                ctx = context(config, source, index, 8000)
                hits.update(d.id for d in DEVIATIONS if d.recognises(ctx))
    unused = [d.id for d in DEVIATIONS if not hits[d.id]]
    assert not unused, f"deviations no generated case exercises: {unused}"


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_express_args_make_the_same_policy(config: TrustConfig) -> None:
    from trustedproxy import TrustPolicy

    assert hasattr(TrustPolicy, "from_express_args"), "TrustPolicy.from_express_args is missing"
    from_args: Callable[[list[str]], Any] = TrustPolicy.from_express_args
    assert from_args(config.express_args()) == TrustPolicy(
        trusted_proxies=list(config.proxies), trusted_headers=list(config.headers))


# --------------------------------------------------------------------------- against mod_wsgi


def test_modwsgi_answered_every_case(modwsgi_observations: Observations) -> None:
    obs = modwsgi_observations
    assert not obs.errors, report(
        [f"{case_id} from {source}: {error}" for (case_id, source), error in obs.errors.items()],
        f"requests failed against mod_wsgi ({obs.config.name})")
    assert len(obs.environ) == len(CASES) * len(SOURCES)


def test_deviation_table_explains_modwsgi(modwsgi_observations: Observations) -> None:
    """Wherever SPEC.md's result differs from the real mod_wsgi, a deviation names it.

    Needs only mod_wsgi and the SPEC.md model: this checks the table itself.
    """
    problems: list[str] = []
    for ctx, env in contexts(modwsgi_observations):
        mod = observe_modwsgi(env)
        explained = explain(ctx)
        for field in FIELDS:
            if ctx.expected[field] != mod[field] and field not in explained:
                problems.append(describe(ctx, field, spec=ctx.expected[field],
                                         mod_wsgi=mod[field]))
    assert not problems, report(problems, "differences between SPEC.md and mod_wsgi that no "
                                          "deviation names")


def test_middleware_matches_modwsgi_or_a_deviation(modwsgi_observations: Observations) -> None:
    from trustedproxy import TrustedProxyMiddleware

    policy = policy_for(modwsgi_observations.config)

    def factory(app: Any) -> Any:
        return TrustedProxyMiddleware(app, policy)

    problems: list[str] = []
    checked = 0
    for ctx, env in contexts(modwsgi_observations):
        mod = observe_modwsgi(env)
        seen = run_middleware(factory, dict(ctx.environ))
        ours = observe_environ(seen)
        orig = seen.get("trustedproxy.orig", {})
        if orig.get("REMOTE_ADDR") != ctx.source:
            problems.append(describe(ctx, "trustedproxy.orig", REMOTE_ADDR=orig.get("REMOTE_ADDR")))
        explained = explain(ctx)
        for field in FIELDS:
            if field in explained:
                ids = [dev_id for dev_id, _ in explained[field]]
                want = explained[field][0][1]
                if ours[field] != want:
                    problems.append(describe(ctx, field, ours=ours[field], expected=want,
                                             mod_wsgi=mod[field], deviations=ids))
            elif ours[field] != mod[field]:
                problems.append(describe(ctx, field, ours=ours[field], mod_wsgi=mod[field],
                                         deviations="none: undocumented difference"))
        checked += 1
    assert checked == len(CASES) * len(SOURCES)
    assert not problems, report(problems, "mismatches")
