"""The published numbers of the 3D SA-UNet paper (Guo, arXiv:2309.08402), Tables 1-3.

Scored with the official WMH challenge script on the 110 test subjects.  The paper prints
DSC, AVD and lesion F1 only, and AVD as a fraction (0.174 = 17.4 % in the challenge's
units); :attr:`PaperScores.avd_percent` converts.  The challenge winner's HD95 and recall come
from the challenge results (Kuijf et al., IEEE TMI 2019; Li et al., NeuroImage 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHALLENGE_WINNER", "PaperScores", "TABLE1_ROWS", "TABLE2_ROWS", "TABLE3_ROWS", "match_scanner"]


@dataclass(frozen=True)
class PaperScores:
    """One published row: its label, the preset that reproduces it (None: quoted only) and its scores."""

    label: str
    preset: str | None
    dsc: float
    avd_fraction: float
    f1: float
    hd95: float | None = None
    recall: float | None = None

    @property
    def avd_percent(self) -> float:
        return 100.0 * self.avd_fraction


TABLE1_ROWS = (
    PaperScores("Backbone with (3,3,3) & (2,2,2) (BN)", "backbone_333_bn", 0.66, 0.356, 0.46),
    PaperScores("Backbone with (3,3,1) & (2,2,1) (BN)", "backbone_331_bn", 0.75, 0.225, 0.68),
    PaperScores("Backbone* with GN", "backbone_gn", 0.78, 0.172, 0.71),
    PaperScores("Backbone* with GN + 3D ASPP", "backbone_gn_aspp", 0.77, 0.170, 0.71),
    PaperScores("Backbone* with GN + 3D SAM", "backbone_gn_sam", 0.78, 0.182, 0.75),
    PaperScores("3D SA-UNet", "saunet3d", 0.79, 0.174, 0.76),
)
"""Table 1 (ablation), in the paper's order."""

CHALLENGE_WINNER = PaperScores(
    "Challenge winner (sysu_media; 2D U-Net ensemble, T1 + FLAIR)", None, 0.80, 0.219, 0.76, hd95=6.30, recall=0.84
)

TABLE2_ROWS = (
    PaperScores("3D U-Net", "unet3d", 0.71, 0.289, 0.53),
    PaperScores("Attention U-Net", "attention_unet3d", 0.74, 0.206, 0.57),
    CHALLENGE_WINNER,
    PaperScores("3D SA-UNet", "saunet3d", 0.79, 0.174, 0.76),
)
"""Table 2 (comparison), in the paper's order; the challenge winner is quoted, not trained."""

TABLE3_ROWS = (
    PaperScores("Utrecht (n = 30)", None, 0.79, 0.151, 0.71),
    PaperScores("Singapore (n = 30)", None, 0.82, 0.156, 0.78),
    PaperScores("Amsterdam Philips (n = 10)", None, 0.72, 0.167, 0.73),
    PaperScores("Amsterdam GE3T (n = 30)", None, 0.79, 0.201, 0.79),
    PaperScores("Amsterdam GE1.5T (n = 10)", None, 0.77, 0.225, 0.80),
    PaperScores("Average", None, 0.79, 0.174, 0.76),
)
"""Table 3 (3D SA-UNet per test-set scanner)."""

# scanner-name fragments (lower case) -> Table 3 row; names from wmhseg's challenge importer
# (Utrecht, Singapore, GE3T, GE1T5, PETMR) and from folder paths (Amsterdam/GE3T, ...)
_SCANNER_KEYS = (
    (("utrecht",), 0),
    (("singapore",), 1),
    (("petmr", "philips"), 2),
    (("ge3t",), 3),
    (("ge1t5", "ge1.5", "ge15"), 4),
    (("average",), 5),
)


def match_scanner(scanner: str) -> PaperScores | None:
    """The Table 3 row of a scanner name (``Utrecht``, ``Amsterdam/GE3T``, ``PETMR``, ``Average``, ...), or None."""
    name = scanner.lower()
    for fragments, index in _SCANNER_KEYS:
        if any(fragment in name for fragment in fragments):
            return TABLE3_ROWS[index]
    return None
