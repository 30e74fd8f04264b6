"""Data-parallel training (issue 18, item 3): ``serkit train`` under torchrun, 2 CPU ranks.

One torchrun launch of this file (``__main__`` below is the worker) trains the tiny random
BERT twice: each rank in its own working folder with a relative output (whatever rank 1
wrote would land in its folder), then in one shared folder killed after step 3 and resumed.
The tests compare it with single-process steps taken here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from _corpus import TOY  # the tests dir is on sys.path under pytest and as torchrun's script

STEPS = 4


def _config(backbone: Path, data: Path) -> dict[str, Any]:
    """No dropout anywhere (the steps must be comparable), no clipping (the gradients
    compared are the ones the optimiser gets)."""
    return dict(
        train=str(data), val_slice=True, backbone=str(backbone), features=["case", "lexicon"],
        lexicon_folds=2, max_steps=STEPS, lr=5e-3, head_lr=1e-2, warmup=0.0, batch_tokens=64,
        max_length=16, stride=4, k=1, alpha=0.0, dropout=0.0, grad_clip=0.0, seed=3,
        eval_every=2, checkpoint_every=2, log_every=1, threads=1,
    )  # fmt: skip


def _grads_at_step(trainer) -> dict[str, torch.Tensor]:
    """The gradients the optimiser gets at its first step (after DDP's averaging)."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    seen: dict[str, torch.Tensor] = {}

    def hook(optimizer, args, kwargs) -> None:
        if not seen:
            for name, p in trainer.model.named_parameters():
                if p.grad is not None:
                    seen[name] = p.grad.detach().clone()

    register_optimizer_step_pre_hook(hook)
    return seen


# -- the worker (run by torchrun) --------------------------------------------------------


def _worker(job_file: str) -> None:
    from safetensors.torch import save_file

    from serkit.training.config import TrainConfig
    from serkit.training.trainer import Callback, Trainer, train

    job = json.loads(Path(job_file).read_text())
    root, rank = Path(job["root"]), int(os.environ["RANK"])

    class AfterFirstStep(Callback):
        def on_step(self, trainer, state, record) -> None:
            if record.step == 1:
                weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
                save_file(weights, "step1.safetensors")
                save_file(grads, "grads1.safetensors")

    home = root / job.get("home", ".") / f"rank{rank}"
    home.mkdir(parents=True)
    os.chdir(home)
    t = Trainer(TrainConfig.from_dict({**job["config"], "output": "out"}), progress=False,
                callbacks=[AfterFirstStep()])  # fmt: skip
    grads = _grads_at_step(t)
    if job.get("home"):  # the `accelerate launch` run: its first step is all the test needs
        t.run(stop_at=1)
        return
    t.run()
    # Killed after step 3 (last checkpoint: step 2), then resumed, in one shared folder.
    cfg = TrainConfig.from_dict({**job["config"], "output": str(root / "resumed")})
    Trainer(cfg, progress=False).run(stop_at=3)
    train(cfg, resume=True, progress=False)


# -- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ddp(tmp_path_factory) -> dict[str, Any]:
    from _corpus import write_tagged
    from _runtime_model import tiny_backbone

    root = tmp_path_factory.mktemp("ddp")
    backbone = tiny_backbone(root)
    conf = json.loads((backbone / "config.json").read_text())
    (backbone / "config.json").write_text(json.dumps({**conf, "attention_probs_dropout_prob": 0.0}))
    data = write_tagged(root / "toy.txt", TOY * 4)
    config = _config(backbone, data)
    job = root / "job.json"
    job.write_text(json.dumps({"root": str(root), "config": config}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", __file__, str(job)]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return {"root": root, "config": config, "env": env}


@pytest.fixture(scope="module")
def accelerated(ddp) -> Path:
    """The same job's first step under ``accelerate launch``, 2 processes on the CPU.

    ``--cpu --num_processes 2`` would start ONE process (accelerate 1.x runs several CPU
    processes only through mpirun and a host file); ``--multi_gpu`` is its torch.distributed
    launcher, which on a machine without a GPU gives 2 CPU ranks (serkit picks gloo)."""
    pytest.importorskip("accelerate", reason="the `scale` extra (accelerate) is not installed")
    root = ddp["root"]
    job = root / "job-accelerate.json"
    job.write_text(json.dumps({"root": str(root), "config": ddp["config"], "home": "accelerate"}))
    # No accelerate config of the user's (HF_HOME) changes the launch.
    env = {**ddp["env"], "HF_HOME": str(root / "hf-home"), "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
           "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", "0", __file__, str(job)]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return root / "accelerate"


def _single(config: dict[str, Any], out: Path):
    from serkit.training.config import TrainConfig
    from serkit.training.trainer import Trainer

    t = Trainer(TrainConfig.from_dict({**config, "output": str(out)}), progress=False)
    t._setup()
    return t


def _grads(t, batch: list[int]) -> dict[str, torch.Tensor]:
    t.model.zero_grad(set_to_none=True)
    loss, _ = t._loss([t.windows[i] for i in batch], 0.0)
    loss.backward()
    return {n: p.grad.clone() for n, p in t.model.named_parameters() if p.grad is not None}


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-7) for k in a)


def test_one_step_on_two_ranks_equals_one_step_on_their_union(ddp, tmp_path):
    from safetensors.torch import load_file

    root = ddp["root"]
    t = _single(ddp["config"], tmp_path / "single")
    batches = t._batches(0)
    first, second = batches[:2]  # rank 0's and rank 1's batch of step 1
    union = _grads(t, first + second)
    alone = _grads(t, first)
    mean_of_means = {k: (alone[k] + _grads(t, second)[k]) / 2 for k in alone}
    step_loss = float(t._loss([t.windows[i] for i in first + second], 0.0)[0].detach())
    per_epoch = -(-len(batches) // 2)
    seen = 0  # sentences both ranks trained on, over the run
    for step in range(STEPS):
        epoch, pos = divmod(step, per_epoch)
        of_epoch = t._batches(epoch)
        for rank in (0, 1):
            seen += len({t.windows[i].sentence for i in of_epoch[(pos * 2 + rank) % len(of_epoch)]})

    for rank in (0, 1):
        got = load_file(str(root / f"rank{rank}" / "grads1.safetensors"))
        assert _close(got, union), rank
    # Rank 1's batch counts, weighted by its labelled words: a mean of the two batch means
    # is another gradient unless both batches hold as many labelled words.
    words = [int((t.encoder.labels([t.windows[i] for i in b], t.word_sets) >= 0).sum())
             for b in (first, second)]  # fmt: skip
    assert not _close(got, alone)
    assert _close(got, mean_of_means) == (words[0] == words[1])

    # The step itself: single process on the union of the two batches.
    t.model.zero_grad(set_to_none=True)
    t._batches = lambda epoch: [first + second]
    state = {"step": 0, "sentences_seen": 0, "train_seconds": 0.0}
    next(t.steps(state))
    want = t.model.state_dict()
    for rank in (0, 1):
        got = load_file(str(root / f"rank{rank}" / "step1.safetensors"))
        assert got.keys() == want.keys()
        for k in want:
            # A first Adam step is lr * g / (|g| + eps): where g is float noise away from 0
            # it may move by a fraction of lr (5e-3) either way; elsewhere it is exact.
            assert torch.allclose(got[k], want[k], rtol=1e-5, atol=5e-4), (rank, k)

    # The logged loss of step 1 is the mean over both ranks' labelled words.
    recs = [json.loads(x) for x in (root / "rank0/out/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "loss" in r] == list(range(1, STEPS + 1))
    assert next(r["loss"] for r in recs if "loss" in r) == pytest.approx(step_loss, rel=1e-5)
    start = next(r for r in recs if r.get("event") == "start")
    assert start["steps_per_epoch"] == per_epoch
    ckpt = json.loads((root / "rank0/out/checkpoint/state.json").read_text())
    assert ckpt["sentences_seen"] == seen


def test_only_rank_0_writes_the_output_folder(ddp):
    root = ddp["root"]
    assert not (root / "rank1" / "out").exists()
    out = root / "rank0" / "out"
    for name in ("serkit.json", "model.safetensors", "metrics.jsonl", "checkpoint/state.json"):
        assert (out / name).is_file(), name
    card = json.loads((out / "serkit.json").read_text())
    assert card["training"]["finished"] is True


def test_resume_on_two_ranks_matches_the_uninterrupted_run(ddp):
    from safetensors.torch import load_file

    root = ddp["root"]
    recs = [json.loads(x) for x in (root / "resumed/metrics.jsonl").read_text().splitlines()]
    assert {"event": "resume", "step": 2} in recs
    assert [r["step"] for r in recs if "loss" in r] == [1, 2, 3, 3, 4]
    a = load_file(str(root / "rank0/out/checkpoint/model.safetensors"))
    b = load_file(str(root / "resumed/checkpoint/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_accelerate_launch_takes_the_same_step_as_torchrun(ddp, accelerated):
    """Same config, same variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*): both ranks take
    the step torchrun's ranks take (itself one single-process step on the union of the two
    ranks' batches, tested above), and rank 1 writes nothing."""
    from safetensors.torch import load_file

    want = load_file(str(ddp["root"] / "rank0" / "step1.safetensors"))
    want_grads = load_file(str(ddp["root"] / "rank0" / "grads1.safetensors"))
    for rank in (0, 1):
        got = load_file(str(accelerated / f"rank{rank}" / "step1.safetensors"))
        assert got.keys() == want.keys()
        assert all(torch.allclose(got[k], want[k], rtol=1e-6, atol=1e-7) for k in want), rank
        grads = load_file(str(accelerated / f"rank{rank}" / "grads1.safetensors"))
        assert _close(grads, want_grads), rank
    assert (accelerated / "rank0" / "out" / "metrics.jsonl").is_file()
    assert not (accelerated / "rank1" / "out").exists()


def test_each_rank_gets_its_share_of_the_batches():
    from serkit.training.distributed import SINGLE, Group

    batches = [[i] for i in range(5)]
    shares = [Group(r, 2, r).share(batches) for r in range(2)]
    assert shares == [[[0], [2], [4]], [[1], [3], [0]]]  # the last round wraps around
    assert SINGLE.share(batches) is batches
    assert Group(2, 3, 0).share([[7]]) == [[7]]


def test_the_launcher_variables_are_read_or_refused():
    from serkit.errors import SerkitError
    from serkit.training.distributed import from_env

    assert from_env({}) == (0, 1, 0)
    assert from_env({"WORLD_SIZE": "1", "RANK": "0"}) == (0, 1, 0)
    assert from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == (3, 4, 1)
    for bad in ({"WORLD_SIZE": "two"}, {"WORLD_SIZE": "2"}, {"WORLD_SIZE": "2", "RANK": "2"}):
        with pytest.raises(SerkitError):
            from_env(bad)
    # mpirun (`accelerate launch --cpu --mpirun_hostfile H`): Open MPI's and MPICH's variables.
    ompi = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "MASTER_ADDR": "h"}
    assert from_env({**ompi, "OMPI_COMM_WORLD_LOCAL_RANK": "0"}) == (1, 2, 0)
    assert from_env({"PMI_RANK": "2", "PMI_SIZE": "3"}) == (2, 3, 2)
    assert from_env({**ompi, "WORLD_SIZE": "1"}) == (0, 1, 0)  # torch's variables first
    # What `accelerate launch [--cpu] --num_processes 2` (accelerate 1.15, no GPU, no host
    # file) gives its ONE process: refused, not trained as a single process.
    for cpu in ("True", "False"):
        one = {"ACCELERATE_USE_CPU": cpu, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
        with pytest.raises(SerkitError, match="started one process.*--multi_gpu"):
            from_env(one)
    assert from_env({"ACCELERATE_USE_CPU": "True"}) == (0, 1, 0)  # --num_processes 1


if __name__ == "__main__":
    _worker(sys.argv[1])
