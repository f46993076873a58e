"""The ways a transform is called, the types it returns, and the loss."""

from __future__ import annotations

import ast
import inspect
import re

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import default_collate
from torchvision import tv_tensors
from torchvision.transforms import v2

import zmix_transforms as Z
from tests.dispatch import Ops
from tests.methods import NO_SYNC, PRODUCT_CLASSES, TRANSFORM_CLASSES, VARIANTS, Variant
from zmix_transforms import functional as F

TRANSFORMS = TRANSFORM_CLASSES


def _batch(n: int = 6, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 8, 8), generator=g).to(dtype)
    return images, torch.arange(n) % 4


def _same_call(transform: Z.ZetaMixup, *args: object) -> object:
    torch.manual_seed(7)
    return transform(*args)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_every_calling_convention_gives_the_same_mix(cls: type) -> None:
    t = cls(num_classes=4)
    images, labels = _batch()
    extra = torch.arange(6.0)
    ref_images, ref_labels = _same_call(t, images, labels)

    out = _same_call(t, (images, labels))
    assert isinstance(out, tuple) and torch.equal(out[0], ref_images) and torch.equal(out[1], ref_labels)

    out = _same_call(t, [images, labels])
    assert isinstance(out, list) and torch.equal(out[0], ref_images)

    out = _same_call(t, {"image": images, "label": labels})
    assert (
        set(out) == {"image", "label"}
        and torch.equal(out["image"], ref_images)
        and torch.equal(out["label"], ref_labels)
    )

    out = _same_call(t, images, labels, extra)
    assert len(out) == 3 and torch.equal(out[0], ref_images) and out[2] is extra  # extras pass through

    out = _same_call(t, images, labels, "names")
    assert out[2] == "names"

    getter = cls(num_classes=4, labels_getter=lambda sample: sample["target"])
    out = _same_call(getter, {"target": labels, "pixels": images})
    assert torch.equal(out["pixels"], ref_images) and torch.equal(out["target"], ref_labels)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_tv_tensor_images_and_videos_keep_their_type(cls: type) -> None:
    images, labels = _batch()
    out_images, _ = cls(num_classes=4)(tv_tensors.Image(images), labels)
    assert type(out_images) is tv_tensors.Image and out_images.shape == images.shape
    video = tv_tensors.Video(torch.rand(6, 2, 3, 8, 8))
    out_video, out_labels = cls(num_classes=4)(video, labels)
    assert type(out_video) is tv_tensors.Video and out_video.shape == video.shape
    assert out_labels.shape == (6, 4)


_SOFT = F.one_hot(torch.arange(6) % 4, 4)
_PARTNERS = torch.tensor([1, 2, 3, 4, 5, 0])
# each public function of the functional API that takes a batch first, called with a seeded generator
FUNCTIONAL_CALLS = {
    "zeta_mixup": lambda x, g, **kw: F.zeta_mixup(x, _SOFT, generator=g, **kw),
    "mixup": lambda x, g, **kw: F.mixup(x, _SOFT, 0.3, generator=g, **kw),
    "cutmix": lambda x, g, **kw: F.cutmix(x, _SOFT, 0.4, generator=g, **kw),
    "apply_weights": lambda x, g, **kw: F.apply_weights(x, F.zeta_weights(6, generator=g), **kw),
    "apply_terms": lambda x, g, **kw: F.apply_terms(x, *F.zeta_terms(6, 3, generator=g), **kw),
    "mix_pairs": lambda x, g, **kw: F.mix_pairs(x, 0.3, _PARTNERS, **kw),
    "paste_box": lambda x, g, **kw: F.paste_box(x, F.Box(1, 2, 5, 7), _PARTNERS, **kw),
    "paste_region": lambda x, g, **kw: F.paste_region(
        x, F.cutmix_region((8, 8), 0.5, generator=g), _PARTNERS, **kw
    ),
}
_IN_PLACE = ("apply_weights", "apply_terms", "mix_pairs", "paste_box", "paste_region")


@pytest.mark.parametrize("name", FUNCTIONAL_CALLS)
@pytest.mark.parametrize("kind", [tv_tensors.Image, tv_tensors.Video, tv_tensors.Mask])
def test_the_functional_api_keeps_a_tv_tensor_s_type(name: str, kind: type) -> None:
    """As torchvision's ``v2.functional`` does: a tv_tensor in, the same type out, with the plain
    tensor's values; in place, the batch itself; a plain batch comes out plain."""
    call = FUNCTIONAL_CALLS[name]
    plain = torch.rand(6, 2, 3, 8, 8) if kind is tv_tensors.Video else torch.rand(6, 3, 8, 8)
    expected = call(plain, torch.Generator().manual_seed(3))
    out = call(kind(plain), torch.Generator().manual_seed(3))
    mixed, expected = (out[0], expected[0]) if isinstance(out, tuple) else (out, expected)
    assert type(expected) is torch.Tensor and type(mixed) is kind and torch.equal(mixed, expected)
    if name in _IN_PLACE:
        batch = kind(plain.clone())
        assert call(batch, torch.Generator().manual_seed(3), inplace=True) is batch
        assert torch.equal(batch.as_subclass(torch.Tensor), expected)


def test_a_functional_batch_passed_by_keyword_keeps_its_type() -> None:
    images = tv_tensors.Image(torch.rand(6, 3, 8, 8))
    mixed, labels = F.mixup(images=images, labels=_SOFT, lam=0.3)
    assert type(mixed) is tv_tensors.Image and type(labels) is torch.Tensor
    assert type(F.mix_pairs(x=images, lam=0.3, partners=_PARTNERS)) is tv_tensors.Image


def test_the_label_encoders_return_plain_float_targets() -> None:
    """As Getting started says: only the functions that mix a batch keep its type."""
    masks = tv_tensors.Mask(torch.randint(0, 3, (4, 5, 5)))
    soft = F.one_hot_masks(masks, 3)
    assert type(soft) is torch.Tensor and soft.is_floating_point() and soft.shape == (4, 3, 5, 5)
    assert type(F.smooth_labels(tv_tensors.Mask(torch.rand(4, 3)), 0.1)) is torch.Tensor


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_image_and_video_in_one_sample_share_the_mix(cls: type) -> None:
    """Explicit tv_tensors are all mixed with one draw; a plain tensor beside them passes through."""
    images, labels = _batch()
    image = tv_tensors.Image(images)
    twin = tv_tensors.Image(images.clone())
    plain = torch.rand(6, 5)
    out = cls(num_classes=4)({"a": image, "b": twin, "labels": labels, "plain": plain})
    assert torch.equal(out["a"], out["b"]) and out["plain"] is plain


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_random_choice_over_a_default_collated_batch(cls: type) -> None:
    choice = v2.RandomChoice([Z.ZetaMixup(num_classes=4), Z.MixUp(num_classes=4), Z.CutMix(num_classes=4)])
    samples = [(torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8), i % 4) for i in range(6)]
    images, labels = choice(default_collate(samples))
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 8, 8)
    torch.testing.assert_close(labels.sum(1), torch.ones(6))


@pytest.mark.parametrize("cls", TRANSFORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8])
def test_images_keep_their_dtype(cls: type, dtype: torch.dtype) -> None:
    images, labels = _batch(dtype=dtype)
    out_images, out_labels = cls(num_classes=4)(images, labels)
    assert out_images.dtype == dtype and out_labels.dtype == torch.float32
    assert not torch.isnan(out_images.to(torch.float32)).any()


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_batch_of_one_is_returned_unmixed_with_one_hot_labels(cls: type) -> None:
    images, labels = _batch(1)
    out_images, out_labels = cls(num_classes=4)(images, labels)
    assert torch.equal(out_images, images) and out_images.data_ptr() != images.data_ptr()
    assert torch.equal(out_labels, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    soft = torch.tensor([[0.25, 0.75]])
    _, out_soft = cls()(images, soft)
    assert torch.equal(out_soft, soft) and out_soft.data_ptr() != soft.data_ptr()


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_an_unmixed_batch_in_a_dict_hands_back_copies_of_its_soft_labels(cls: type) -> None:
    """Switched off (``mixup_enabled=False``), a batch passed in a dict still comes back as new
    tensors: soft labels that need no conversion are copied, never handed back themselves."""
    images, _ = _batch(4)
    soft = torch.softmax(torch.rand(4, 4), dim=1)
    transform = cls(num_classes=4)
    transform.mixup_enabled = False
    out = transform({"image": images, "label": soft})
    assert torch.equal(out["label"], soft) and out["label"].data_ptr() != soft.data_ptr()
    assert torch.equal(out["image"], images) and out["image"].data_ptr() != images.data_ptr()


@pytest.mark.parametrize("cls", TRANSFORMS)
@pytest.mark.parametrize("key", ["image", "pixel_values", "IMG"])
def test_a_dict_s_images_are_found_by_their_key_before_an_earlier_tensor(cls: type, key: str) -> None:
    """In a dict, the plain tensor under an image-like key is the image batch, wherever it stands:
    a tensor listed before it (a sample weight of image rank, ids) passes through unmixed."""
    images, labels = _batch(4)
    weights, ids = torch.rand(4, 1, 1, 1), torch.arange(4)
    torch.manual_seed(0)
    out = cls(num_classes=4)({"weight": weights, "id": ids, key: images, "label": labels})
    torch.manual_seed(0)
    expected_images, expected_labels = cls(num_classes=4)(images, labels)
    assert out["weight"] is weights and out["id"] is ids
    torch.testing.assert_close(out[key], expected_images)
    torch.testing.assert_close(out["label"], expected_labels)


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_a_dict_s_labels_are_found_by_their_key(cls: type) -> None:
    """``"labels"`` first, then ``"label"`` (before an earlier ``"label_names"``), then the first key
    containing ``label`` (any case), in a dict given alone or as a tuple's second item: the others
    pass through."""
    images, labels = _batch(4)
    names = ["cat", "dog", "cat", "cat"]
    torch.manual_seed(0)
    _, expected = cls(num_classes=4)(images, labels)
    for sample, key in [
        ({"image": images, "label_names": names, "label": labels}, "label"),
        ({"image": images, "Label": torch.zeros(4, dtype=torch.int64), "LABELS": labels}, "LABELS"),
        ({"image": images, "class_label": labels}, "class_label"),
    ]:
        torch.manual_seed(0)
        out = cls(num_classes=4)(sample)
        torch.testing.assert_close(out[key], expected)
        passed = [other for other in sample if other not in (key, "image")]
        assert all(out[k] is sample[k] if torch.is_tensor(sample[k]) else out[k] == sample[k] for k in passed)
    # a mapping as the second item of a tuple, as torchvision's labels_getter finds it there
    torch.manual_seed(0)
    _, target = cls(num_classes=4)(images, {"names": names, "labels": labels})
    torch.testing.assert_close(target["labels"], expected)
    assert list(target) == ["names", "labels"] and target["names"] == names


@pytest.mark.parametrize("cls", TRANSFORMS)
def test_soft_and_integer_multi_hot_labels(cls: type) -> None:
    images, _ = _batch(4)
    multi_hot = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 1]])
    _, out = cls(num_classes=3)(images, multi_hot)
    assert out.dtype == torch.float32 and out.shape == (4, 3)
    assert (out >= 0).all() and (out <= 1).all()


@pytest.mark.parametrize("label_dtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
def test_any_integer_label_dtype(label_dtype: torch.dtype) -> None:
    images, labels = _batch()
    _, out = Z.MixUp(num_classes=4)(images, labels.to(label_dtype))
    torch.testing.assert_close(out.sum(1), torch.ones(6))


def test_repr_names_the_parameters() -> None:
    assert repr(Z.ZetaMixup(3.0, num_classes=10)) == "ZetaMixup(gamma=3.0, num_classes=10)"
    assert repr(Z.MixUp(0.2)) == "MixUp(alpha=0.2, num_classes=None)"
    assert repr(Z.CutMixCollate(num_classes=5)) == (
        "CutMixCollate(transform=CutMix(alpha=1.0, num_classes=5), collate_fn=default_collate)"
    )
    # a parameter at its default is left out, as torchvision's reprs do (alpha and gamma are shown)
    assert repr(Z.ResizeMix()) == "ResizeMix(num_classes=None)"
    assert repr(Z.ResizeMix(scale=(0.1, 0.5))) == "ResizeMix(scale=(0.1, 0.5), num_classes=None)"
    assert repr(Z.FMix()) == "FMix(alpha=1.0, num_classes=None)"
    mix = Z.RandomMix([Z.MixUp(num_classes=2), Z.CutMix(num_classes=2)], p=[1, 2])  # p normalized, 6 digits
    assert repr(mix).endswith("p=[0.333333, 0.666667])")


def test_the_losses_repr_their_arguments() -> None:
    assert repr(Z.SoftTargetCrossEntropy("sum")) == "SoftTargetCrossEntropy(reduction='sum')"
    assert repr(Z.SoftDiceLoss()) == "SoftDiceLoss(smooth=1e-05, reduction='mean')"
    assert repr(Z.SoftDiceLoss(0.5, "none", ignore_index=255)) == (
        "SoftDiceLoss(smooth=0.5, reduction='none', ignore_index=255)"
    )
    assert repr(Z.MixupELoss(alpha=0.5, eta=0.1)).startswith(
        "MixupELoss(\n  alpha=0.5, eta=0.1, threshold=1.0\n"
    )


# each method's own parameters, every one away from its default (a new method needs its entry)
OWN_PARAMETERS: dict[type, dict[str, object]] = {
    Z.ZetaMixup: {"gamma": 3.0, "max_terms": 4},
    Z.MixUp: {"alpha": 0.4, "mode": "elem"},
    Z.CutMix: {"alpha": 0.4, "minmax": (0.2, 0.7), "mode": "pair"},
    Z.ZetaCutMix: {"gamma": 3.0, "alpha": 0.4},
    Z.FMix: {"alpha": 0.4, "decay": 2.0, "mode": "elem"},
    Z.ResizeMix: {"scale": (0.2, 0.5), "mode": "pair"},
}
# the shared options of plain values, every one away from its default
OPTIONS: dict[str, object] = {
    "num_classes": 7,
    "label_smoothing": 0.1,
    "multi_label": True,
    "p": 0.5,
    "per_rank": False,
    "across_ranks": True,
    "rank_timeout": 5.0,
    "spatial_dims": 3,
    "ignore_index": 255,
}


@pytest.mark.parametrize("cls", TRANSFORMS, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("changed", [False, True], ids=["defaults", "every parameter changed"])
def test_repr_builds_the_same_transform(cls: type, changed: bool) -> None:
    """``eval(repr(t))`` is ``t`` again: every parameter and option away from its default is named."""
    names = {**OWN_PARAMETERS[cls], **OPTIONS}
    transform = cls(**names) if changed else cls()
    again = eval(repr(transform), vars(Z))
    assert type(again) is cls and repr(again) == repr(transform)
    for name, value in names.items():
        assert getattr(again, name) == getattr(transform, name), name
        if changed:
            assert getattr(transform, name) == value, name


def _documented_default(entry: str) -> tuple[bool, object]:
    """The default an Args entry states (``default 1.0``, ``(default (0.1, 0.8), ...)``, ``` ``None``
    (default)```), as a Python value: ``(False, None)`` where it states none as a literal."""
    if match := re.search(r"``([^`]+)`` \((?:[^()]*, )?default\)", entry):
        text = match.group(1)
    elif match := re.search(r"default ", entry):
        text, depth = "", 0
        for char in entry[match.end() :]:
            if depth == 0 and char in ",;)":
                break
            depth += {"(": 1, ")": -1}.get(char, 0)
            text += char
    else:
        return False, None
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return False, None


def _args_entries(obj: object) -> dict[str, str]:
    """Each ``Args:`` entry of a class's or function's docstring, by parameter name, lines joined."""
    # cleaned as Python 3.13 compiles docstrings (their common indent stripped), on every Python
    section = re.search(r"\nArgs:\n(.*?)(?:\n\n|\Z)", inspect.cleandoc(obj.__doc__ or ""), re.DOTALL)
    entries: dict[str, str] = {}
    name = None
    for line in section.group(1).splitlines() if section else []:
        if match := re.match(r"^    (\w+): (.*)", line):
            name = match.group(1)
            entries[name] = match.group(2)
        elif name is not None:
            entries[name] += " " + line.strip()
    return entries


@pytest.mark.parametrize("cls", TRANSFORM_CLASSES, ids=lambda c: c.__name__)
def test_a_class_reads_as_its_init_and_takes_its_parameters_on_any_python(cls: type) -> None:
    """A method's signature is its ``__init__``'s, whether it has one of its own (``CutMix``) or
    inherits it (``MixUp``, a user's subclass): the base's checking ``__new__`` never shows.
    Python 3.10 took an inherited ``__new__`` first, and refused ``MixUp(alpha=0.2)``; the routes-off
    leg of ``make test`` runs this there."""
    subclass = type(f"My{cls.__name__}", (cls,), {"__doc__": "A user's subclass, no __init__ of its own."})
    init = list(inspect.signature(cls.__init__).parameters.values())[1:]
    for each in (cls, subclass):
        assert list(inspect.signature(each).parameters.values()) == init, each.__name__
        own = [p for p in init if p.kind is p.POSITIONAL_OR_KEYWORD]
        made = each(**{p.name: p.default for p in own}, num_classes=3)  # every own parameter by name
        assert all(getattr(made, p.name) == p.default for p in own), each.__name__
        with pytest.raises(
            TypeError, match=rf"^{each.__name__}\(\) got an unexpected keyword argument 'gama'"
        ):
            each(gama=1.0)
    # read on the class only: an instance reads as any Module does (its __call__)
    module = inspect.signature(torch.nn.Identity())
    assert inspect.signature(cls(num_classes=3)) == module and inspect.signature(subclass()) == module


def test_a_documented_default_is_the_signatures() -> None:
    """Where a parameter's docstring entry states its default, the signature has that default."""
    stated, wrong = [], []
    public = [(name, getattr(Z, name)) for name in Z.__all__] + [(f"F.{n}", getattr(F, n)) for n in F.__all__]
    for name, obj in public:
        if inspect.isclass(obj) and obj.__init__ is not object.__init__:
            signature = inspect.signature(obj.__init__)
        elif inspect.isfunction(obj):
            signature = inspect.signature(obj)
        else:
            continue
        entries = _args_entries(obj)
        for parameter in signature.parameters.values():
            if parameter.default is inspect.Parameter.empty or parameter.name not in entries:
                continue
            states, default = _documented_default(entries[parameter.name])
            if states:
                stated.append(f"{name}.{parameter.name}")
                if default != parameter.default:
                    wrong.append(
                        f"{name}({parameter.name}=...): the docs say {default!r}, it is {parameter.default!r}"
                    )
    assert not wrong
    assert len(stated) >= 20, stated  # the entries read as they are written (no silent parse failure)


def test_every_gamma_defaults_to_the_papers() -> None:
    """ζ-mixup's exponent defaults to the paper's γ = 2.8 wherever a public name takes one."""
    defaults = {}
    for module in (Z, F):
        for name in module.__all__:
            try:
                parameters = inspect.signature(getattr(module, name)).parameters
            except (TypeError, ValueError):  # a constant, or a class with no signature of its own
                continue
            if "gamma" in parameters:
                defaults[f"{module.__name__}.{name}"] = parameters["gamma"].default
    assert {"zmix_transforms.ZetaMixup", "zmix_transforms.functional.zeta_dropped_mass"} <= defaults.keys()
    assert len(defaults) >= 7, defaults
    assert set(defaults.values()) == {2.8}, defaults


def test_one_hot_matches_torch() -> None:
    labels = torch.tensor([3, 0, 2], dtype=torch.int16)
    expected = torch.nn.functional.one_hot(labels.long(), 5).to(torch.float64)
    assert torch.equal(F.one_hot(labels, 5, dtype=torch.float64), expected)


def test_soft_target_cross_entropy_equals_torch_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 5, generator=g, requires_grad=True)
    targets = torch.softmax(torch.randn(8, 5, generator=g), dim=1)
    for reduction in ("mean", "sum", "none"):
        ours = Z.SoftTargetCrossEntropy(reduction)(logits, targets)
        direct = -(targets * torch.log_softmax(logits, dim=1)).sum(1)
        direct = {"mean": direct.mean(), "sum": direct.sum(), "none": direct}[reduction]
        torch.testing.assert_close(ours, direct)
        torch.testing.assert_close(
            ours, torch.nn.functional.cross_entropy(logits, targets, reduction=reduction)
        )
    indices = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    expected = torch.nn.functional.cross_entropy(logits, indices)
    for dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):  # torch's takes two
        torch.testing.assert_close(Z.SoftTargetCrossEntropy()(logits, indices.to(dtype)), expected)


def test_loss_trains_on_mixed_labels() -> None:
    """Gradients flow from the loss on a mixed batch to a model."""
    images, labels = Z.ZetaMixup(num_classes=4)(*_batch())
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    loss = Z.SoftTargetCrossEntropy()(model(images / 255), labels)
    loss.backward()
    assert torch.isfinite(loss) and model[1].weight.grad is not None and model[1].weight.grad.abs().sum() > 0


class _BlockingCopies(TorchDispatchMode):
    """Records every copy from the CPU to the meta device that waits (``non_blocking=False``): on a
    GPU such a copy waits for the stream, a sync."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        waits = not (
            args[2] if func is torch.ops.aten.copy_.default and len(args) > 2 else kwargs.get("non_blocking")
        )
        to_meta = kwargs.get("device") == torch.device("meta")
        if func is torch.ops.aten._to_copy.default and args[0].device.type == "cpu" and to_meta and waits:
            self.seen.append(f"_to_copy of {tuple(args[0].shape)}")
        if (
            func is torch.ops.aten.copy_.default
            and args[0].is_meta
            and args[1].device.type == "cpu"
            and waits
        ):
            self.seen.append(f"copy_ of {tuple(args[1].shape)}")
        return func(*args, **kwargs)


def test_zeta_terms_drawn_on_the_host_for_another_device_reach_it_without_waiting() -> None:
    """A CPU generator draws ζ-mixup's few terms a row on the host; they reach the device by a
    non-blocking copy (meta stands in: on a GPU a blocking one would wait for the stream)."""
    with _BlockingCopies() as copies:
        indices, values = F.zeta_terms(
            64, max_terms=4, generator=torch.Generator().manual_seed(0), device="meta"
        )
    assert indices.is_meta and values.is_meta and copies.seen == []


def test_a_batch_of_scalars_mixes_as_a_batch_of_one_value_samples() -> None:
    """The functional API's batches are (N, ...): a 1-D batch (N,) is N samples of one value, mixed
    as its (N, 1) view is, and comes back 1-D (mutation seed 62: ``apply_weights`` asking for
    two dimensions passed). Products within a float32 rounding; the pair mixes, one lerp a value,
    equal."""
    x, labels = torch.arange(6, dtype=torch.float32) * 10, torch.eye(6)
    column = x.unsqueeze(1)
    seed = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    weights, (indices, values) = (
        F.zeta_weights(6, generator=seed()),
        F.zeta_terms(6, max_terms=3, generator=seed()),
    )
    partners = F.cycle_partners(6, generator=seed())
    products = [
        (F.apply_weights(x, weights), F.apply_weights(column, weights)),
        (F.apply_terms(x, indices, values), F.apply_terms(column, indices, values)),
        (F.zeta_mixup(x, labels, generator=seed())[0], F.zeta_mixup(column, labels, generator=seed())[0]),
    ]
    for mixed, expected in products:
        assert mixed.shape == (6,)
        torch.testing.assert_close(mixed, expected.squeeze(1), rtol=0, atol=1e-4)
    pairs = [
        (F.mix_pairs(x, 0.3, partners), F.mix_pairs(column, 0.3, partners)),
        (F.mixup(x, labels, 0.3, generator=seed())[0], F.mixup(column, labels, 0.3, generator=seed())[0]),
    ]
    for mixed, expected in pairs:
        assert mixed.shape == (6,) and torch.equal(mixed, expected.squeeze(1))


def test_functional_mixup_takes_a_lambda_per_sample() -> None:
    """``F.mixup``'s λ may be a float tensor (N,), one per sample: equal λs mix as the one float."""
    images, labels = torch.rand(6, 3, 4, 4), torch.eye(6)
    expected = F.mixup(images, labels, 0.3, generator=torch.Generator().manual_seed(1))
    each = torch.full((6,), 0.3, dtype=torch.float64)
    got = F.mixup(images, labels, each, generator=torch.Generator().manual_seed(1))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("make", NO_SYNC, ids=lambda make: repr(make(num_classes=10)))
@pytest.mark.parametrize("shape", [(16, 3, 32, 32), (64, 3, 224, 224)], ids=["small", "large"])
@pytest.mark.parametrize("inplace", [False, True], ids=["new", "inplace"])
def test_an_eager_call_reads_nothing_back_from_the_batch_device(
    make: type, shape: tuple[int, ...], inplace: bool
) -> None:
    """Drawn for and mixed on meta tensors, where reading a value raises, and every draw made on the
    host reaches them without waiting: on a GPU, no sync. Large samples too, in place or not: on
    the CPU they are mixed one by one along the pairing, which would read it back."""
    transform = make(num_classes=10)
    images, labels = torch.empty(shape, device="meta"), torch.empty(shape[0], 10, device="meta")
    torch.manual_seed(0)  # ζ-CutMix's region, large enough to be walked on the CPU
    with _BlockingCopies() as copies:
        params = transform.draw_params([images], None)
        mixed = transform.mix_images(images, params, inplace=inplace)
        assert mixed.is_meta and transform.mix_labels(labels, params).is_meta
    assert copies.seen == []


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
@pytest.mark.parametrize("max_terms", [None, 3])
def test_an_in_place_zeta_mix_on_another_device_is_one_product(
    dtype: torch.dtype, max_terms: int | None
) -> None:
    """On the CPU a large batch is mixed in place over blocks of columns (no second batch); on
    another device (meta stands in: each op would be a kernel launch) in one product, written back."""
    transform = Z.ZetaMixup(num_classes=4, max_terms=max_terms)
    images = torch.empty(64, 3, 224, 224, dtype=dtype, device="meta")
    params = transform.draw_params([images], None)
    with Ops() as ops:
        assert transform.mix_images(images, params, inplace=True) is images
    # a dozen ops at most, where blocks of columns would take several a block (182 or more here)
    assert len(ops.names) <= 12 and ops.names.count("mm") == (0 if max_terms else 1), ops.names


@pytest.mark.parametrize("make", NO_SYNC, ids=lambda make: repr(make(num_classes=10)))
def test_a_call_on_another_device_launches_as_many_kernels_for_any_batch(make: type) -> None:
    """The kernels a call launches on an accelerator do not grow with the batch (meta stands in).
    ζ-mixup draws its weights on the host up to 64 samples and on the device above: other kernels,
    as few."""
    transform = make(num_classes=10)

    def call(images: torch.Tensor, labels: torch.Tensor) -> None:
        torch.manual_seed(0)
        params = transform.draw_params([images], None)
        transform.mix_labels(labels, params), transform.mix_images(images, params)

    launches = []
    for n in (16, 128):
        images, labels = torch.empty(n, 3, 32, 32, device="meta"), torch.empty(n, 10, device="meta")
        call(images, labels)  # the first call makes what is cached
        with Ops() as ops:
            call(images, labels)
        launches.append(len(ops.launches))
    assert hasattr(transform, "gamma") or launches[0] == launches[1], launches
    assert launches[1] <= 30, launches


@pytest.mark.parametrize(
    ("mode", "n", "side", "on_host"),
    [
        ("batch", 16, 32, True),
        ("batch", 16, 64, True),
        ("batch", 16, 72, False),
        ("elem", 4, 32, True),
        ("pair", 16, 32, False),
    ],
)
def test_fmix_draws_small_masks_on_the_host_and_moves_them_in_one_copy(
    mode: str, n: int, side: int, on_host: bool
) -> None:
    """On another device (meta stands in) masks of at most 4096 pixels in all are drawn on the host
    and copied over (no FFT, sort or draw launched there); larger ones are drawn on the device."""
    transform = Z.FMix(num_classes=10, mode=mode)
    images = torch.empty(n, 3, side, side, device="meta")
    transform.draw_params([images], None)  # the first call makes what is cached
    with Ops() as ops:
        params = transform.draw_params([images], None)
    assert params["mask"].device == images.device and params["mask"].shape[-2:] == (side, side)
    drawn_there = {"randn", "_fft_c2r", "sort"} & set(ops.launches)
    assert drawn_there == (set() if on_host else {"randn", "_fft_c2r", "sort"}), ops.launches
    if on_host:  # the masks, the partners and (one a sample) the shares: a copy each
        assert set(ops.launches) == {"_to_copy"} and len(ops.launches) <= 3, ops.launches


@pytest.mark.parametrize("make", PRODUCT_CLASSES)
@pytest.mark.parametrize("n", [4, 16, 64])  # a weight table's rows, NumPy's scatter, torch's
@pytest.mark.parametrize(
    ("dtype", "labels_dtype", "copies"),
    [(torch.float32, torch.float32, 1), (torch.float64, torch.float64, 1), (torch.float32, torch.float64, 2)],
)
def test_zeta_weights_reach_another_device_in_the_dtypes_they_are_used_in(
    make: type, n: int, dtype: torch.dtype, labels_dtype: torch.dtype, copies: int
) -> None:
    """ζ-mixup's weights for up to 64 samples are drawn on the host in float64, and in float32 for
    float32 images: on another device (meta stands in) nothing is cast, and only the dtypes the
    images and labels are mixed in are copied over, once each (the float64 ones wait on the host)."""
    transform = make(num_classes=10)
    images = torch.empty(n, 3, 8, 8, dtype=dtype, device="meta")
    labels = torch.empty(n, 10, dtype=labels_dtype, device="meta")
    transform.draw_params([images], None)  # the first call makes what is cached
    with Ops() as ops:
        params = transform.draw_params([images], None)
        transform.mix_images(images, params), transform.mix_labels(labels, params)
    assert ("weights_float32" in params) == (dtype == torch.float32)
    assert ops.device_casts == [] and ops.names.count("mm") == 2, ops.names
    copied = [name for name in ops.launches if name == "_to_copy"]
    assert len(copied) == copies + (make is Z.ZetaCutMix), ops.launches  # and CutMix's partners
    assert params["weights"].device.type == ("meta" if dtype == torch.float64 else "cpu")


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.id)
def test_the_parameters_of_some_rows_mix_those_rows_as_the_whole_batch_does(variant: Variant) -> None:
    """What mixing across ranks relies on: ``rows_params`` gives the rows' parameters and the batch
    rows they read (``select``, None: all), and mixing those gives the rows first, as the whole mix
    has them (float64: a product of fewer rows within rounding)."""
    transform = variant.make(num_classes=4)
    images = torch.rand(6, 3, 8, 8, dtype=torch.float64)
    labels = F.one_hot(torch.arange(6) % 4, 4, dtype=torch.float64)
    torch.manual_seed(0)
    params = transform.draw_params([images], None)
    whole = transform.mix_images(images, params), transform.mix_labels(labels, params)
    rows = torch.tensor([4, 1])
    local, select = transform.rows_params(params, rows)
    if select is not None:
        images, labels = images[select], labels[select]
    part = transform.mix_images(images, local), transform.mix_labels(labels, local)
    for mixed, expected in zip(part, whole, strict=True):
        torch.testing.assert_close(mixed[:2], expected[rows])


@pytest.mark.parametrize("make", TRANSFORM_CLASSES, ids=lambda make: make.__name__)
def test_a_batch_mode_call_on_small_batches_keeps_float64_off_the_device(make: type) -> None:
    """What the README says of Apple's MPS, which has no float64: a call on 16 samples of 3×32² in
    batch mode (ζ-mixup's weights and FMix's mask drawn on the host, each dtype rounded there) puts
    no float64 tensor on the device (meta stands in), where a per-sample mode's λs are float64."""
    transform = make(num_classes=10)
    images, labels = torch.empty(16, 3, 32, 32, device="meta"), torch.empty(16, 10, device="meta")
    transform.draw_params([images], None)  # the first call makes what is cached
    with Ops() as ops:
        params = transform.draw_params([images], None)
        transform.mix_images(images, params), transform.mix_labels(labels, params)
    assert torch.float64 not in ops.device_dtypes, ops.device_dtypes
    if "mode" in inspect.signature(make).parameters:
        per_sample = make(num_classes=10, mode="elem")
        with Ops() as ops:
            per_sample.mix_labels(labels, per_sample.draw_params([images], None))
        assert torch.float64 in ops.device_dtypes


@pytest.mark.parametrize("classes", [10, 2000])  # the rows of a cached identity, a scatter
def test_one_hot_on_another_device_stays_there(classes: int) -> None:
    """Off the CPU (meta stands in) class indices become one-hot rows there, unchecked (a check
    would wait for the device), in a (N, K) float batch."""
    soft = F.one_hot(torch.tensor([0, 3, 1], device="meta"), classes)
    assert soft.shape == (3, classes) and soft.dtype == torch.float32 and soft.device.type == "meta"


def test_samples_of_no_values_are_mixed_into_samples_of_no_values() -> None:
    """A batch of empty samples (a spatial size of 0) is a valid input of the whole-sample mixes:
    out comes a batch of that shape (embedding_bag, which ``max_terms`` takes, needs a column)."""
    x = torch.rand(4, 3, 0, 5)
    terms = F.zeta_terms(4, max_terms=2)
    for out in (
        F.apply_terms(x, *terms),
        F.apply_weights(x, F.zeta_weights(4)),
        F.mix_pairs(x, 0.3, torch.tensor([1, 2, 3, 0])),
    ):
        assert out.shape == x.shape and out.dtype == x.dtype
    images, labels = Z.ZetaMixup(num_classes=3, max_terms=2)(x, torch.tensor([0, 1, 2, 0]))
    assert images.shape == x.shape and torch.allclose(labels.sum(1), torch.ones(4))


def test_paste_box_takes_an_empty_box_and_the_whole_image() -> None:
    """A box may be empty (``x1 == x2`` or ``y1 == y2``: λ = 1 draws one) or cover the whole image."""
    x = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 2, 5, 6).contiguous()
    partners = torch.tensor([1, 2, 3, 0])
    for empty in (F.Box(2, 1, 2, 4), F.Box(0, 3, 6, 3), F.Box(6, 5, 6, 5)):
        out = F.paste_box(x, empty, partners)
        assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    assert torch.equal(F.paste_box(x, F.Box(0, 0, 6, 5), partners), x[partners])


def test_paste_region_takes_a_batch_of_samples_with_no_channel_axis() -> None:
    """``x`` is (N, ..., *spatial): a batch of single-channel (N, H, W) images, the least, is pasted
    like any other; one dimension fewer is refused."""
    x = torch.arange(24.0).reshape(2, 3, 4)
    expected = x.clone()
    expected[:, 0:2, 1:3] = x[[1, 0], 0:2, 1:3]
    assert torch.equal(F.paste_region(x, F.Region((0, 1), (2, 3)), torch.tensor([1, 0])), expected)
    with pytest.raises(
        ValueError,
        match=r"^x must be a batch of shape \(N, \.\.\., \*spatial\) with at least 3 dimensions, got shape \(3, 4\)$",
    ):
        F.paste_region(torch.rand(3, 4), F.Region((0, 1), (2, 3)), torch.tensor([1, 0, 2]))
    with pytest.raises(  # one region per sample alike
        ValueError,
        match=r"^x must be a batch of shape \(N, \.\.\., \*spatial\) with at least 3 dimensions, got shape \(3, 4\)$",
    ):
        F.paste_region(torch.rand(3, 4), [F.Region((0, 1), (2, 3))] * 3, torch.tensor([1, 0, 2]))


@pytest.mark.parametrize("make", NO_SYNC, ids=lambda make: repr(make(num_classes=10)))
def test_mix_images_leaves_its_input_alone_unless_told(make: type) -> None:
    """``mix_images(inpt, params)`` returns a new batch (``inplace=False`` by default); only with
    ``inplace=True`` does it write into ``inpt``, and then it returns ``inpt`` mixed alike."""
    transform = make(num_classes=10)
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    params = transform.draw_params([images], None)
    before = images.clone()
    mixed = transform.mix_images(images, params)
    assert torch.equal(images, before) and mixed.data_ptr() != images.data_ptr()
    in_place = transform.mix_images(images, params, inplace=True)
    assert in_place is images and torch.equal(in_place, mixed)


def test_random_mix_switches_the_transforms_that_have_a_switch() -> None:
    """``RandomMix.mixup_enabled`` reads and sets the switch of the transforms that have one; a
    plain callable among them has none, counts as on and is left alone."""

    def plain(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return images, F.one_hot(labels, 4)

    mixup = Z.MixUp(num_classes=4)
    mix = Z.RandomMix([plain, mixup])
    assert mix.mixup_enabled is True
    mix.mixup_enabled = False
    assert mix.mixup_enabled is False and mixup.mixup_enabled is False and not hasattr(plain, "mixup_enabled")
    mix.mixup_enabled = True
    assert mix.mixup_enabled is True and mixup.mixup_enabled is True
