"""Deterministic, resumable batch streams for the trainer.

A sampler's `state_dict()` holds only ints and tensors, so it rides inside a checkpoint
loaded with `torch.load(..., weights_only=True)`; restoring it into a fresh sampler
continues the exact same stream of batches, as if training had never stopped.
"""

from __future__ import annotations

import torch

from gankit.data import ImageData
from gankit.data.toy import ToyMixture
from gankit.errors import GankitError


def _check_rank(batch_size: int, rank: int, world_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise GankitError(f"batch_size must be a positive int, got {batch_size!r}")
    if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
        raise GankitError(f"need 0 <= rank < world_size, got rank={rank!r}, world_size={world_size!r}")


class TensorSampler:
    """Shuffled epochs over in-memory data; batches drawn without replacement, drop_last; state is resumable.

    Epoch `e` uses `torch.randperm(N, generator=torch.Generator().manual_seed(seed + e))`;
    with `world_size > 1` rank `r` takes `perm[r::world_size]`, so ranks never share an
    image within an epoch. `batch_size` is per rank. The data moves to `device` once, here.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_rank(batch_size, rank, world_size)
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = None if data.labels is None else data.labels.to(self.device)
        self.batch_size = batch_size
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.num_items = int(self.images.shape[0])
        self.shard_size = len(range(rank, self.num_items, world_size))
        if batch_size > self.shard_size:
            raise GankitError(
                f"batch_size {batch_size} per rank is larger than the {self.shard_size} images "
                f"this rank gets from {self.num_items} (world_size {world_size}); use a smaller batch_size"
            )
        self.epoch = 0
        self.position = 0  # index into this epoch's shard where the next batch starts
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.int64)

    @property
    def batches_per_epoch(self) -> int:
        """Full batches this rank draws per epoch (the remainder is dropped)."""
        return self.shard_size // self.batch_size

    def _shard(self) -> torch.Tensor:
        """This rank's index order for the current epoch, on the data's device (cached)."""
        if self._perm_epoch != self.epoch:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            perm = torch.randperm(self.num_items, generator=generator)
            self._perm = perm[self.rank::self.world_size].to(self.device)
            self._perm_epoch = self.epoch
        return self._perm

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next batch: (images `[B, C, H, W]` on device, labels `[B]` int64 on device or None)."""
        if self.position + self.batch_size > self.shard_size:
            self.epoch += 1
            self.position = 0
        index = self._shard()[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        labels = None if self.labels is None else self.labels[index]
        return self.images[index], labels

    def state_dict(self) -> dict:
        """`{"epoch", "position", "seed"}` as plain ints."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict()`; the saved seed replaces this sampler's seed."""
        missing = {"epoch", "position", "seed"} - set(state)
        if missing:
            raise GankitError(f"sampler state lacks {sorted(missing)}; the checkpoint is not from a TensorSampler")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.seed = int(state["seed"])
        self._perm_epoch = -1  # the cached permutation may belong to another seed


class ToySampler:
    """Endless i.i.d. batches from a 2-D toy mixture, from its own seeded generator.

    Rank `r` of `world_size` seeds its generator with `seed * world_size + r`, so ranks
    draw different points and a run is reproducible for a given (seed, world_size).
    """

    def __init__(
        self,
        mixture: ToyMixture,
        batch_size: int,
        seed: int,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_rank(batch_size, rank, world_size)
        self.mixture = mixture
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(int(seed) * world_size + rank)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next batch: (points `[B, 2]` float32 raw coordinates, mode index `[B]` int64), on device."""
        points, modes = self.mixture.sample(self.batch_size, self.generator)
        return points.to(self.device), modes.to(self.device)

    def state_dict(self) -> dict:
        """`{"generator": uint8 tensor}`: the CPU generator's full state."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict()`."""
        if "generator" not in state:
            raise GankitError("sampler state lacks 'generator'; the checkpoint is not from a ToySampler")
        self.generator.set_state(state["generator"].to("cpu", torch.uint8))


def labelled_subset(data: ImageData, per_class: int, seed: int) -> ImageData:
    """`per_class` images of every class, picked by a fixed seed: the few labels a semi-supervised D sees.

    Raises GankitError when the data has no labels or a class has fewer than `per_class` images.
    """
    if data.labels is None:
        raise GankitError("a semi-supervised GAN needs labelled data (a folder needs one subfolder per class)")
    order = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(int(seed)))
    picked = []
    for k in range(data.num_classes):
        members = order[data.labels[order] == k]
        if len(members) < per_class:
            raise GankitError(f"class {k} has {len(members)} training images, fewer than semi.labels_per_class="
                              f"{per_class}; lower semi.labels_per_class")
        picked.append(members[:per_class])
    index = torch.cat(picked)
    return ImageData(data.images[index], data.labels[index], data.class_names)


class SemiSupervisedSampler:
    """Two resumable streams for a semi-supervised GAN: every training image without its label
    (`next()`, labels None) and the small labelled subset (`next_labelled()`).

    The labelled stream has its own seed (`seed + 1`), so the unlabelled batches are the same
    as an unconditional run's. `state_dict()` holds both streams' positions.
    """

    def __init__(self, data: ImageData, labelled: ImageData, batch_size: int, labelled_batch: int, seed: int,
                 device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1) -> None:
        self.unlabelled = TensorSampler(data, batch_size, seed, device, rank, world_size)
        # Every rank sees every labelled image (there are few), in its own order.
        labelled_batch = min(labelled_batch, len(labelled))
        self.labelled = TensorSampler(labelled, labelled_batch, (seed + 1) * world_size + rank, device)

    def next(self) -> tuple[torch.Tensor, None]:
        """Next unlabelled batch: (images `[B, C, H, W]`, None)."""
        return self.unlabelled.next()[0], None

    def next_labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next labelled batch: (images `[M, C, H, W]`, labels `[M]` int64)."""
        return self.labelled.next()

    def state_dict(self) -> dict:
        return {"unlabelled": self.unlabelled.state_dict(), "labelled": self.labelled.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "labelled" not in state:
            raise GankitError("sampler state lacks 'labelled'; the checkpoint is not from a semi-supervised run")
        self.unlabelled.load_state_dict(state["unlabelled"])
        self.labelled.load_state_dict(state["labelled"])
