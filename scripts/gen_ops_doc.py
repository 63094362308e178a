"""Write docs/ops.md from the op registry (the same text as `cnndsl ops --format markdown`).

    .venv/bin/python scripts/gen_ops_doc.py          # rewrite docs/ops.md
    .venv/bin/python scripts/gen_ops_doc.py --check  # exit 1 if docs/ops.md is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "ops.md"


def main(argv: list[str]) -> int:
    from cnndsl.ops.describe import markdown

    text = markdown()
    if "--check" in argv:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run .venv/bin/python scripts/gen_ops_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
