"""Average the network weights of several checkpoints of one training run into one state_dict (SWA).

Snapshots of one run (for example the training's ``latest.pt`` copied after each epoch) are averaged
element-wise (``wmhseg.inference.average_state_dicts``); the result is a plain network state_dict, as
``models/model.pt``, written atomically. Score it on synthetic validation like any other checkpoint::

    python pipelines/average_checkpoints.py -o runs/swa.pt runs/snapshots/epoch_8.pt runs/snapshots/epoch_9.pt ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from wmhseg.bundle.checkpoints import atomic_torch_save  # noqa: E402
from wmhseg.inference import CheckpointError, average_state_dicts  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoints of one network")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the averaged state_dict (.pt)")
    args = parser.parse_args(argv)
    try:
        state = average_state_dicts(args.checkpoints)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(state, args.output)
    print(f"wrote {args.output}: the mean of {len(args.checkpoints)} checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
