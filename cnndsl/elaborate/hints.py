"""What a diagnostic adds for the user: where each argument is (`arg_spans`), the cnndsl
spelling of a PyTorch or Python word (`scale_factor` -> `scale`, `BatchNorm2d` -> `bn`,
`False` -> `false`), and the valid attributes when one is unknown. The spelling tables live
with the op reference (cnndsl/ops/reference.py)."""

from __future__ import annotations

from typing import Any

from cnndsl.diagnostics import did_you_mean
from cnndsl.ops.reference import ATTR_SPELLINGS, NAME_SPELLINGS


def arg_spans(stage: Any, offset: int = 0) -> dict:
    """Where each argument of a call is written: positional index (after `offset` already bound
    ones) or keyword -> the argument's Span (the keyword's own column for `stride=2`)."""
    spans: dict = {}
    i = offset
    for a in stage.args or ():
        if a.name is None:
            spans[i] = a.span
            i += 1
        else:
            spans[a.name] = a.span
    return spans


def unknown_attribute(opdef: Any, name: str) -> str:
    """`conv has no attribute 'kernel_size' (cnndsl spells it 'kernel') (conv's attributes: out, kernel, ...)`"""
    text = f"{opdef.name} has no attribute '{name}'"
    names = opdef.attr_names
    spelled = ATTR_SPELLINGS.get(name, ())
    candidates = [c for c in ((spelled,) if isinstance(spelled, str) else spelled) if c in names]
    if candidates:
        text += f" (cnndsl spells it '{candidates[0]}')"
    elif isinstance(spelled, str) and not spelled.isidentifier():
        text += f" ({spelled})"
    else:
        text += did_you_mean(name, names)
    if names:
        text += f" ({opdef.name}'s attributes: " + ", ".join(names) + ")"
    else:
        text += f" ({opdef.name} takes no attributes)"
    return text


def dotted_hint(callee: tuple) -> str:
    """`nn.Conv2d`, `torch.cat`, `F.relu`: the cnndsl op for the PyTorch name after the prefix."""
    if len(callee) > 1 and callee[0] in ("nn", "torch", "F", "functional", "torchvision", "ops"):
        spelled = NAME_SPELLINGS.get(callee[-1])
        if spelled is None and callee[-1].lower() in NAME_SPELLINGS.values():
            spelled = f"'{callee[-1].lower()}'"
        if spelled is not None:
            return f"; cnndsl spells it {spelled}"
    return ""


def name_hint(name: str, candidates: Any) -> str:
    """The cnndsl spelling of a PyTorch / Python name (`BatchNorm2d` -> `bn`, `False` -> `false`), else
    the closest known name."""
    spelled = NAME_SPELLINGS.get(name)
    if spelled is not None:
        return f"; cnndsl spells it {spelled}"
    return did_you_mean(name, candidates)


__all__ = ["arg_spans", "dotted_hint", "name_hint", "unknown_attribute"]
