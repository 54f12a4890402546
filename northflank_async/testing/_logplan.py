"""The log plan generator: the lines a build or a run will log, phase by phase.

A plan is a list of `Planned` lines, each in a phase (a build: starting, clone, build steps,
push, then its outcome; a run: its work, then its outcome) at an offset from the moment its
phase began. Plans are generated reproducibly from the fake's seed and the item's key
(`plan_rng`); `._logs.LogBook` times them as the item moves along.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Hashable, Mapping
from typing import Any, Final

__all__ = [
    "BUILD_FINAL_PHASE",
    "BUILD_PHASES",
    "RUN_FINAL_PHASE",
    "Planned",
    "build_outcome",
    "build_plan",
    "plan_rng",
    "run_outcome",
    "run_plan",
]

#: The phases of a build's log before its outcome; the outcome's lines come last.
BUILD_PHASES: Final = ("STARTING", "CLONING", "BUILDING", "UPLOADING")
BUILD_FINAL_PHASE: Final = len(BUILD_PHASES)
RUN_FINAL_PHASE: Final = 1

_INSTRUCTIONS: Final = (
    "FROM node:20-alpine AS base",
    "WORKDIR /app",
    "COPY package.json package-lock.json ./",
    "RUN npm ci --omit=dev",
    "COPY . .",
    "RUN npm run build",
    "RUN npm test",
    "ENV NODE_ENV=production",
    "EXPOSE 8080",
    "RUN addgroup -S app && adduser -S app -G app",
    "USER app",
    'CMD ["node", "dist/main.js"]',
    "ARG GIT_SHA",
    "LABEL org.opencontainers.image.source=northflank",
)
_ERRORS: Final = {
    "FAILURE": 'ERROR: failed to solve: process "/bin/sh -c npm test" did not complete '
    "successfully: exit code: 1",
    "CRASHED": "ERROR: the builder crashed: container killed (out of memory)",
    "SUBMISSION_FAILURE": "ERROR: build submission failed: could not schedule the builder",
    "ABORTED": "Build aborted",
}


@dataclasses.dataclass(slots=True)
class Planned:
    """One planned line: its phase, its offset (ms) from the phase's start, where, what."""

    phase: int
    offset_ms: int
    container: str
    log: Any


def plan_rng(seed: int, key: Hashable) -> random.Random:
    """The generator of one item's plan (or, with a key like ``(key, "outcome")``, of its
    outcome): the same seed and key always plan the same lines."""
    return random.Random(f"{seed}/logs/{'/'.join(map(str, _as_tuple(key)))}")


def _as_tuple(key: Hashable) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


def _item_id(key: Hashable) -> str:
    return str(_as_tuple(key)[-1])


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


class _Planner:
    """Appends planned lines, in bursts that share one offset."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.plan: list[Planned] = []
        self.offset = 0

    def burst(self, phase: int, container: str, *logs: Any, gap: tuple[int, int]) -> None:
        self.offset += self.rng.randint(*gap)
        self.plan.extend(Planned(phase, self.offset, container, log) for log in logs)

    def phase(self) -> None:
        self.offset = 0


def build_plan(rng: random.Random, key: Hashable, build: Mapping[str, Any]) -> list[Planned]:
    build_id = _item_id(key)
    parts = _as_tuple(key)
    project, job = (parts[1], parts[2]) if len(parts) >= 4 else ("project", "job")
    main = f"{build_id}-builder"
    cache = f"{build_id}-cache" if rng.random() < 0.3 else None
    odd_step = rng.randint(1, 6) if rng.random() < 0.25 else None
    given_sha, given_branch = build.get("sha"), build.get("branch")
    sha = given_sha if isinstance(given_sha, str) else _hex(rng, 40)
    branch = given_branch if isinstance(given_branch, str) else "main"
    p = _Planner(rng)
    p.burst(0, main, f"Build {build_id} scheduled on builder pool eu-west-1", gap=(0, 0))
    p.burst(0, main, "Pulling builder image northflank/buildkit:0.12", gap=(200, 900))
    p.phase()
    p.burst(
        1,
        main,
        f"Cloning repository https://github.com/example/{job}.git ...",
        f"Checking out {sha[:12]} on branch {branch}",
        f"HEAD is now at {sha[:7]} Update {branch}",
        gap=(100, 400),
    )
    p.burst(1, main, f"Clone complete in {rng.randint(5, 40) / 10:.1f}s", gap=(300, 1500))
    p.phase()
    steps = rng.randint(6, 14)
    for step in range(1, steps + 1):
        instruction = rng.choice(_INSTRUCTIONS)
        # Three lines per step share one timestamp, on purpose: clients must cope.
        p.burst(
            2,
            main,
            f"Step {step}/{steps} : {instruction}",
            f" ---> Running in {_hex(rng, 12)}",
            f" ---> {_hex(rng, 12)}",
            gap=(300, 2500),
        )
        if cache is not None and step % 3 == 0:
            p.burst(2, cache, f"cache: restored layer sha256:{_hex(rng, 12)}", gap=(0, 200))
        if step == odd_step:
            structured = {"level": "warn", "message": "npm WARN deprecated inflight@1.0.6"}
            p.burst(2, main, structured, gap=(50, 300))
    p.burst(2, main, f"Successfully built {_hex(rng, 12)}", gap=(200, 800))
    p.phase()
    p.burst(
        3, main, f"Pushing image registry.northflank.com/{project}/{job}:{build_id}", gap=(0, 0)
    )
    for _ in range(rng.randint(2, 4)):
        p.burst(3, main, f"{_hex(rng, 12)}: Pushed", gap=(200, 1500))
    digest = _hex(rng, 64)
    p.burst(3, main, f"{build_id}: digest: sha256:{digest} size: 2417", gap=(100, 600))
    return p.plan


def build_outcome(rng: random.Random, key: Hashable, status: str) -> list[Planned]:
    main = f"{_item_id(key)}-builder"
    if status == "SUCCESS":
        return [Planned(BUILD_FINAL_PHASE, 0, main, "Build complete: image pushed")]
    error = _ERRORS.get(status, f"ERROR: build ended with status {status}")
    return [Planned(BUILD_FINAL_PHASE, 0, main, error)]


def run_plan(rng: random.Random, key: Hashable, run: Mapping[str, Any]) -> list[Planned]:
    run_id = _item_id(key)
    main = f"{run_id}-main"
    sidecar = f"{run_id}-sidecar" if rng.random() < 0.3 else None
    p = _Planner(rng)
    p.burst(0, main, "Pulling image registry.northflank.com/job:latest", gap=(0, 0))
    p.burst(0, main, "Container started", gap=(300, 1200))
    if sidecar is not None:
        p.burst(0, sidecar, "sidecar: proxy listening on 127.0.0.1:15001", gap=(0, 100))
    batches = rng.randint(5, 12)
    for batch in range(1, batches + 1):
        records = rng.randint(50, 500)
        p.burst(
            0,
            main,
            f"Processing batch {batch}/{batches}",
            f"  fetched {records} records",
            f"  wrote {records} records",
            gap=(400, 3000),
        )
    if rng.random() < 0.25:
        p.burst(0, main, {"level": "info", "event": "metrics", "batches": batches}, gap=(50, 300))
    return p.plan


def run_outcome(rng: random.Random, key: Hashable, status: str) -> list[Planned]:
    main = f"{_item_id(key)}-main"
    if status == "SUCCESS":
        return [Planned(RUN_FINAL_PHASE, 0, main, "Job completed successfully")]
    code = rng.choice((1, 2, 137))
    return [Planned(RUN_FINAL_PHASE, 0, main, f"Error: job exited with code {code}")]
