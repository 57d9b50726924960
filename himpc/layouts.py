"""Joint layouts and their component (10) / limb (5) partitions (paper Sec. 3.1).

A :class:`Layout` names the joints of a skeleton, the root joint used to centre
each frame, and two partitions of the joints into body parts.  The partitions
follow the authors' code (``reduce2part`` / ``reduce2body``): components are
``[left-leg-up, left-leg-down, right-leg-up, right-leg-down, torso, head,
left-arm-up, left-arm-down, right-arm-up, right-arm-down]`` and limbs are
``[left-leg, right-leg, torso, left-arm, right-arm]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

COMPONENT_NAMES = (
    "left-leg-up", "left-leg-down", "right-leg-up", "right-leg-down", "torso",
    "head", "left-arm-up", "left-arm-down", "right-arm-up", "right-arm-down",
)
LIMB_NAMES = ("left-leg", "right-leg", "torso", "left-arm", "right-arm")


class LayoutError(ValueError):
    """An unknown layout or an inconsistent layout specification."""


@dataclass(frozen=True)
class Layout:
    """Joint names, root joint and the component / limb partitions (joint indices)."""

    name: str
    joints: tuple[str, ...]
    root: str
    components: tuple[tuple[int, ...], ...]
    limbs: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        j = len(self.joints)
        if len(set(self.joints)) != j:
            raise LayoutError(f"layout {self.name!r}: joint names are not unique")
        missing = [r for r in self.root.split("+") if r not in self.joints]
        if missing:
            raise LayoutError(f"layout {self.name!r}: root {self.root!r} names {missing}, not joints of the layout "
                              "(a joint name, or joints joined by '+' to centre on their mean)")
        for kind, parts, n in (("components", self.components, 10), ("limbs", self.limbs, 5)):
            if len(parts) != n:
                raise LayoutError(f"layout {self.name!r}: {kind} must have {n} groups, got {len(parts)}")
            for group in parts:
                if not group:
                    raise LayoutError(f"layout {self.name!r}: empty group in {kind}")
                bad = [i for i in group if not 0 <= i < j]
                if bad:
                    raise LayoutError(f"layout {self.name!r}: {kind} index {bad} outside 0..{j - 1}")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def root_indices(self, root_joint: "str | None" = None) -> tuple[int, ...]:
        """The joints whose mean a frame is centred on (:meth:`root_name`; ``LHip+RHip`` is two)."""
        return tuple(self.index(j) for j in self.root_name(root_joint).split("+"))

    def root_name(self, root_joint: "str | None" = None) -> str:
        """The joint a frame is centred on: ``None`` is the layout's root, ``joint0`` the first joint
        of the stored order (what the authors' code uses), anything else a joint name, or joint names
        joined by ``+`` (their mean: a layout without a mid-hip joint, e.g. COCO-17, centres on
        ``LHip+RHip``)."""
        if root_joint is None:
            return self.root
        return self.joints[0] if root_joint == "joint0" else root_joint

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise LayoutError(f"layout {self.name!r} has no joint {joint!r}") from None

    def to_spec(self) -> dict:
        """The JSON ``layout_spec`` form of this layout (see :func:`layout_from_spec`)."""
        return {
            "name": self.name, "joints": list(self.joints), "root": self.root,
            "components": [list(g) for g in self.components],
            "limbs": [list(g) for g in self.limbs],
        }


def _by_names(name: str, joints: Sequence[str], root: str,
              components: Sequence[Sequence[str]], limbs: Sequence[Sequence[str]]) -> Layout:
    idx = {j: i for i, j in enumerate(joints)}
    return Layout(
        name=name, joints=tuple(joints), root=root,
        components=tuple(tuple(idx[j] for j in g) for g in components),
        limbs=tuple(tuple(idx[j] for j in g) for g in limbs),
    )


# Kinect v1 SDK joint order (the order of the authors' preprocessed .npy files).
_SDK20 = (
    "HipCenter", "Spine", "ShoulderCenter", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
)
_COMP20 = (
    ("HipLeft", "KneeLeft"), ("AnkleLeft", "FootLeft"),
    ("HipRight", "KneeRight"), ("AnkleRight", "FootRight"),
    ("HipCenter", "Spine"), ("ShoulderCenter", "Head"),
    ("ShoulderLeft", "ElbowLeft"), ("WristLeft", "HandLeft"),
    ("ShoulderRight", "ElbowRight"), ("WristRight", "HandRight"),
)
_LIMB20 = (
    ("HipLeft", "KneeLeft", "AnkleLeft", "FootLeft"),
    ("HipRight", "KneeRight", "AnkleRight", "FootRight"),
    ("HipCenter", "Spine", "ShoulderCenter", "Head"),
    ("ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft"),
    ("ShoulderRight", "ElbowRight", "WristRight", "HandRight"),
)

# KGBD raw file order (data README), with the file's labels mapped to SDK names.
KGBD_FILE_JOINTS = (
    "Head", "Shoulder-Center", "Shoulder-Right", "Shoulder-Left", "Elbow-Right",
    "Elbow-Left", "Wrist-Right", "Wrist-Left", "Hand-Right", "Hand-Left", "Spine",
    "Hip-centro", "Hip-Right", "Hip-Left", "Knee-Right", "Knee-Left", "Ankle-Right",
    "Ankle-Left", "Foot-Right", "Foot-Left",
)
_KGBD20 = (
    "Head", "ShoulderCenter", "ShoulderRight", "ShoulderLeft", "ElbowRight",
    "ElbowLeft", "WristRight", "WristLeft", "HandRight", "HandLeft", "Spine",
    "HipCenter", "HipRight", "HipLeft", "KneeRight", "KneeLeft", "AnkleRight",
    "AnkleLeft", "FootRight", "FootLeft",
)

# Kinect v2 order (KS20).
_V2_25 = (
    "SpineBase", "SpineMid", "Neck", "Head",
    "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
    "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
    "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft",
    "HipRight", "KneeRight", "AnkleRight", "FootRight",
    "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight",
)
_COMP25 = (
    ("HipLeft", "KneeLeft"), ("AnkleLeft", "FootLeft"),
    ("HipRight", "KneeRight"), ("AnkleRight", "FootRight"),
    ("SpineBase", "SpineMid"), ("Neck", "Head", "SpineShoulder"),
    ("ShoulderLeft", "ElbowLeft"), ("WristLeft", "HandLeft", "HandTipLeft", "ThumbLeft"),
    ("ShoulderRight", "ElbowRight"), ("WristRight", "HandRight", "HandTipRight", "ThumbRight"),
)
_LIMB25 = (
    ("HipLeft", "KneeLeft", "AnkleLeft", "FootLeft"),
    ("HipRight", "KneeRight", "AnkleRight", "FootRight"),
    ("SpineBase", "SpineMid", "Neck", "Head", "SpineShoulder"),
    ("ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft", "HandTipLeft", "ThumbLeft"),
    ("ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HandTipRight", "ThumbRight"),
)

# 14-joint pose-estimation order used for CASIA-B in the authors' code.
_COCO14 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
)
_COMP14 = (
    ("LHip",), ("LKnee", "LAnkle"), ("RHip",), ("RKnee", "RAnkle"), ("Neck",), ("Nose",),
    ("LShoulder",), ("LElbow", "LWrist"), ("RShoulder",), ("RElbow", "RWrist"),
)
_LIMB14 = (
    ("LHip", "LKnee", "LAnkle"), ("RHip", "RKnee", "RAnkle"), ("Nose", "Neck"),
    ("LShoulder", "LElbow", "LWrist"), ("RShoulder", "RElbow", "RWrist"),
)

# 2D pose-estimator layouts (himpc.data.keypoints reads their files).  OpenPose BODY_25 and its
# COCO-18 model (https://github.com/CMU-Perceptual-Computing-Lab/openpose, doc/02_output.md), and the
# COCO-17 keypoints of COCO / mmpose / detectron2 (no neck and no mid hip: centred on the hips' mean).
_BODY25 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
_COMP_BODY25 = (
    ("LHip", "LKnee"), ("LAnkle", "LBigToe", "LSmallToe", "LHeel"),
    ("RHip", "RKnee"), ("RAnkle", "RBigToe", "RSmallToe", "RHeel"),
    ("MidHip", "Neck"), ("Nose", "REye", "LEye", "REar", "LEar"),
    ("LShoulder",), ("LElbow", "LWrist"), ("RShoulder",), ("RElbow", "RWrist"),
)
_LIMB_BODY25 = (
    ("LHip", "LKnee", "LAnkle", "LBigToe", "LSmallToe", "LHeel"),
    ("RHip", "RKnee", "RAnkle", "RBigToe", "RSmallToe", "RHeel"),
    ("MidHip", "Neck", "Nose", "REye", "LEye", "REar", "LEar"),
    ("LShoulder", "LElbow", "LWrist"), ("RShoulder", "RElbow", "RWrist"),
)
_COCO18 = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
)
_COMP18 = (
    ("LHip",), ("LKnee", "LAnkle"), ("RHip",), ("RKnee", "RAnkle"), ("Neck",),
    ("Nose", "REye", "LEye", "REar", "LEar"),
    ("LShoulder",), ("LElbow", "LWrist"), ("RShoulder",), ("RElbow", "RWrist"),
)
_LIMB18 = (
    ("LHip", "LKnee", "LAnkle"), ("RHip", "RKnee", "RAnkle"), ("Nose", "Neck", "REye", "LEye", "REar", "LEar"),
    ("LShoulder", "LElbow", "LWrist"), ("RShoulder", "RElbow", "RWrist"),
)
_COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
_COMP17 = (
    ("left_hip",), ("left_knee", "left_ankle"), ("right_hip",), ("right_knee", "right_ankle"),
    ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    ("left_shoulder",), ("left_elbow", "left_wrist"), ("right_shoulder",), ("right_elbow", "right_wrist"),
)
_LIMB17 = (
    ("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle"),
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow", "left_wrist"), ("right_shoulder", "right_elbow", "right_wrist"),
)

LAYOUTS: dict[str, Layout] = {
    # The authors' code centres every frame on joint 0 of the order the data is stored in
    # (utils/process.py L26-28 subtract input_data[:, :, 0]; KGBD is reordered to SDK order only
    # afterwards, L181-183).  KGBD's raw order (kept by Preprocess.py L318-337) starts with the
    # head, so the code centres KGBD on the head: ``root_joint=joint0`` (or ``Head``).  Measured
    # side by side (book page 15), head centring trains worse Hi-MPCh models on KGBD (lower cluster
    # purity at every epoch), so KGBD's default root stays the hip centre.
    "kinect-v1-20": _by_names("kinect-v1-20", _KGBD20, "HipCenter", _COMP20, _LIMB20),
    "kinect-v1-20-sdk": _by_names("kinect-v1-20-sdk", _SDK20, "HipCenter", _COMP20, _LIMB20),
    "kinect-v2-25": _by_names("kinect-v2-25", _V2_25, "SpineBase", _COMP25, _LIMB25),
    # The authors centre every layout on its joint 0; for this order that is the nose.
    "coco-14": _by_names("coco-14", _COCO14, "Nose", _COMP14, _LIMB14),
    "openpose-body25": _by_names("openpose-body25", _BODY25, "MidHip", _COMP_BODY25, _LIMB_BODY25),
    "openpose-coco18": _by_names("openpose-coco18", _COCO18, "LHip+RHip", _COMP18, _LIMB18),
    "coco-17": _by_names("coco-17", _COCO17, "left_hip+right_hip", _COMP17, _LIMB17),
}


def get_layout(name: str) -> Layout:
    """Look up a known layout by name; raises :class:`LayoutError` naming the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise LayoutError(f"unknown layout {name!r}; known layouts: {', '.join(sorted(LAYOUTS))}, "
                          "or give a JSON layout_spec") from None


def layout_from_spec(spec: Mapping | str | Path) -> Layout:
    """Build a layout from a JSON spec (dict, JSON text or path).

    The spec has ``joints`` (names), ``root`` (a joint name, default the first),
    ``components`` (10 lists of joint indices) and ``limbs`` (5 lists); ``name`` is optional.
    """
    if isinstance(spec, Path) or (isinstance(spec, str) and not spec.lstrip().startswith("{")):
        spec = json.loads(Path(spec).read_text())
    elif isinstance(spec, str):
        spec = json.loads(spec)
    try:
        joints = tuple(str(j) for j in spec["joints"])
        return Layout(
            name=str(spec.get("name", "custom")), joints=joints,
            root=str(spec.get("root", joints[0])),
            components=tuple(tuple(int(i) for i in g) for g in spec["components"]),
            limbs=tuple(tuple(int(i) for i in g) for g in spec["limbs"]),
        )
    except (KeyError, TypeError, IndexError) as err:
        raise LayoutError(f"layout_spec needs 'joints', 'components' (10 lists) and 'limbs' (5 lists): {err}") from err
