"""Human labels of the embedded model's answers (issue 14), keyed by (run id, item id).

COVERAGE: one (covered, reason) per key point of the item, by KEYPOINT_COVERAGE.md.
ERRORS: (category, reason) by ERROR_CODEBOOK.md; `correct` for a fully right answer.
Filled in from the answers of `gen.sh`, before the matcher and pre-labeller were changed.
"""

C, M = True, False

COVERAGE: dict[tuple[str, str], list[tuple[bool, str]]] = {}
ERRORS: dict[tuple[str, str], tuple[str, str]] = {}
