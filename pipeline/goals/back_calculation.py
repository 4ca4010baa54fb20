"""Goals by back-calculation (逆算): monthly targets from a revenue target through the planned rates.

targets.yml (FUNNEL_TARGETS) gives per month a revenue target (or a won-deals target), the average deal
size and the planned conversion of each stage; optionally explicit per-stage goals and the planned lag
of each stage. Won deals = revenue / deal size; each earlier stage's target goal is the next stage's
target base, and its base is its goal / its planned rate, rounded up at every step. With lags, an
earlier stage's targets move into the earlier month in which its entries must happen. Kept free of
Dagster and the warehouse, so the arithmetic is tested on plans alone; pipeline/goals/assets.py loads the
result into reference.funnel_targets. The stages and which of them wins the deal come from the registry
(pipeline/config/registry.py).
"""

import pandas as pd

from pipeline.config.registry import funnel
from pipeline.config.targets import MonthPlan
from pipeline.config.targets import round_up as _up

#: The stages back-calculated from won deals upwards: the win stage first, then each one before it.
CHAIN = tuple(s.name for s in reversed(funnel().up_to_win))
STAGES = funnel().stage_names


def back_calculate(plan: MonthPlan) -> dict[str, tuple[int, int | None]]:
    """(target_base, target_goal) per stage for one month's plan, rounding up at every step."""
    targets: dict[str, tuple[int, int | None]] = {}
    goal = plan.won_deals
    for i, stage in enumerate(CHAIN):  # the win stage, then each stage before it
        if stage in plan.goals:
            goal = plan.goals[stage]
            if i:  # an explicit goal is also the next stage's base: the chain holds
                downstream = CHAIN[i - 1]
                targets[downstream] = (goal, targets[downstream][1])
        base = _up(goal / plan.conversion[stage])
        targets[stage] = (base, goal)
        goal = base  # this stage's base is the goal of the stage before it
    base = targets[CHAIN[0]][1]
    for stage in STAGES[len(CHAIN) :]:  # after the win: each stage's base is the goal of the one before it
        rate = plan.conversion.get(stage)
        goal = plan.goals.get(stage, _up(base * rate) if rate and base is not None else None)
        targets[stage] = (base, goal)
        base = goal
    return targets


def _shift_months(plan: MonthPlan, stage: str) -> int:
    """Whole months an entry into `stage` precedes the win it leads to, from the planned lags."""
    upstream_of_win = CHAIN[: CHAIN.index(stage) + 1] if stage in CHAIN else ()
    return round(sum(plan.lag_days.get(s, 0) for s in upstream_of_win) / 30.4)


def target_rows(plans: list[MonthPlan]) -> pd.DataFrame:
    """Rows of (month, stage, target_base, target_goal, average_deal_size, target_revenue): each stage's targets
    in the month its entries (base) and hand-overs (goal) are due; targets landing in one month add up. The
    revenue target of the file's month is on the win stage's row of that month (its goal month)."""
    rows = []
    order = {s: i for i, s in enumerate(STAGES)}
    for plan in plans:
        for stage, (base, goal) in back_calculate(plan).items():
            base_month = (pd.Timestamp(plan.month) - pd.DateOffset(months=_shift_months(plan, stage))).date()
            nxt = STAGES[order[stage] + 1] if order[stage] + 1 < len(STAGES) else None
            goal_shift = _shift_months(plan, nxt) if nxt in CHAIN else 0
            goal_month = (pd.Timestamp(plan.month) - pd.DateOffset(months=goal_shift)).date()
            rows.append(
                {
                    "month": base_month,
                    "stage": stage,
                    "target_base": base or 0,
                    "target_goal": 0,
                    "has_goal": False,
                    "average_deal_size": plan.average_deal_size,
                    "target_revenue": None,
                }
            )
            rows.append(
                {
                    "month": goal_month,
                    "stage": stage,
                    "target_base": 0,
                    "target_goal": goal or 0,
                    "has_goal": goal is not None,
                    "average_deal_size": plan.average_deal_size,
                    "target_revenue": plan.revenue if stage == CHAIN[0] else None,
                }
            )
    frame = pd.DataFrame(rows)
    frame = frame.groupby(["month", "stage"], as_index=False).agg(
        target_base=("target_base", "sum"),
        target_goal=("target_goal", "sum"),
        has_goal=("has_goal", "any"),
        average_deal_size=("average_deal_size", "max"),
        target_revenue=("target_revenue", lambda revenue: revenue.sum(min_count=1)),
    )
    frame.loc[~frame["has_goal"], "target_goal"] = None
    frame["stage_order"] = frame["stage"].map(order) + 1
    return frame.drop(columns="has_goal").sort_values(["month", "stage_order"]).reset_index(drop=True)
