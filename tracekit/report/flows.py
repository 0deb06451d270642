"""A flow is the ordered list of funnel steps (``service`` or ``service:operation``).

``flow_steps("order")`` reads ``tracekit/flows/order.yaml`` (key ``steps``) when the package
ships it, and otherwise the workshop's order path below; a path to a YAML file or an inline
``a,b:op,c`` list works too.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from tracekit.errors import UserError

# The order path of the workshop (DESIGN.md): shop -> shop API -> MES API -> MES -> queue -> CRM.
ORDER_FLOW = ("internet-shop", "shop-api", "mes-api", "mes", "order-queue", "crm")


def flow_steps(flow: str) -> list[str]:
    """The steps of ``flow``: a flow name, a YAML file with ``steps:``, or ``a,b:op,c``."""
    text = flow.strip()
    if "," in text:
        return [step.strip() for step in text.split(",") if step.strip()]
    path = Path(text)
    if text.endswith((".yaml", ".yml")):
        return _read_steps(path)
    packaged = resources.files("tracekit").joinpath("flows", f"{text}.yaml")
    if packaged.is_file():
        return _read_steps(Path(str(packaged)))
    if text == "order":
        return list(ORDER_FLOW)
    raise UserError(
        f"parameter flow: unknown flow {flow!r}; give a flow name, a YAML file with "
        "steps, or the steps as a,b:operation,c"
    )


def _read_steps(path: Path) -> list[str]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read the flow: {exc}") from None
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, list) or not steps:
        raise UserError(f"{path}: a flow needs a non-empty list of steps")
    return [s if isinstance(s, str) else _step_text(s, path) for s in steps]


def _step_text(step: object, path: Path) -> str:
    if isinstance(step, dict) and "service" in step:
        service = str(step["service"])
        return f"{service}:{step['operation']}" if step.get("operation") else service
    raise UserError(
        f"{path}: a flow step is `service`, `service:operation` or a mapping, got {step!r}"
    )
